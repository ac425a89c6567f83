import Foundation

/// The memory this process holds, from Linux's `/proc/self/status`.
public enum ProcessMemory {
    /// Peak resident set size in bytes (`VmHWM`), nil where /proc is missing.
    public static var peakResidentBytes: Int? { field("VmHWM") }
    /// Current resident set size in bytes (`VmRSS`), nil where /proc is missing.
    public static var residentBytes: Int? { field("VmRSS") }

    /// Resets the peak (`VmHWM`) to the current resident size by writing 5 to
    /// `/proc/self/clear_refs` (Linux 4.0+), so the next peak belongs to what runs next.
    /// Returns false where that is not allowed; the peak is then the process's lifetime peak.
    @discardableResult
    public static func resetPeak() -> Bool {
        guard let h = FileHandle(forWritingAtPath: "/proc/self/clear_refs") else { return false }
        defer { try? h.close() }
        do { try h.write(contentsOf: Data("5".utf8)) } catch { return false }
        return true
    }

    /// A `kB` field of /proc/self/status, in bytes.
    static func field(_ name: String) -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix(name + ":") {
            let parts = line.split(separator: " ", omittingEmptySubsequences: true)
            guard parts.count >= 2, let kb = Int(parts[1]) else { return nil }
            return kb * 1024
        }
        return nil
    }
}
