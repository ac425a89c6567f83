import Foundation

/// Runs the built `mld` binary from the package root and returns its exit status, standard
/// output and standard error. `environment` adds to (or replaces in) the test's environment;
/// `directory` is the working directory (default: the package root).
func runMLD(_ args: [String], environment extra: [String: String] = [:], in directory: String? = nil) throws -> (status: Int32, out: String, err: String) {
    var url = URL(fileURLWithPath: #filePath)
    for _ in 0..<3 { url.deleteLastPathComponent() }
    let root = url
    // The binary built beside the test bundle (same configuration), else any build of it.
    let besideTests = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        .appendingPathComponent("mld").path
    let candidates = [besideTests] + [".build/release/mld", ".build/debug/mld"].map { root.appendingPathComponent($0).path }
    let exe = ProcessInfo.processInfo.environment["MLD_BINARY"]
        ?? candidates.first { FileManager.default.isExecutableFile(atPath: $0) }!
    let p = Process()
    p.executableURL = URL(fileURLWithPath: exe)
    p.arguments = args
    p.currentDirectoryURL = directory.map { URL(fileURLWithPath: $0) } ?? root
    p.environment = ProcessInfo.processInfo.environment.merging(extra) { $1 }
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    try p.run()
    let o = out.fileHandleForReading.readDataToEndOfFile()
    let e = err.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
}
