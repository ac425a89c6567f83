import Foundation

/// The machine a benchmark ran on: cores, CPU model (from /proc/cpuinfo) and the date.
public struct MachineInfo: Codable, Sendable {
    /// Logical cores this process may use.
    public var cores: Int
    /// The CPU's model name, or "unknown".
    public var cpuModel: String
    /// ISO 8601 date and time of the measurement (UTC).
    public var date: String
    /// The 1-minute load average when the report was made (from /proc/loadavg): other work
    /// sharing the cores shows here, and slows every number.
    public var loadAverage: Double?

    public init() {
        cores = ProcessInfo.processInfo.activeProcessorCount
        var model = "unknown"
        if let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
           let line = text.split(separator: "\n").first(where: { $0.hasPrefix("model name") }),
           let colon = line.firstIndex(of: ":") {
            model = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        cpuModel = model
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime]
        date = f.string(from: Date())
        loadAverage = (try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8))
            .flatMap { $0.split(separator: " ").first }.flatMap { Double($0) }
    }
}
