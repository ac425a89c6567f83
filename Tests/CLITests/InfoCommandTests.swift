import Foundation
import Testing

/// Runs the built `mld` binary and returns its exit status, standard output and standard error.
func runMLD(_ args: [String]) throws -> (status: Int32, out: String, err: String) {
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
    p.currentDirectoryURL = root
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    try p.run()
    let o = out.fileHandleForReading.readDataToEndOfFile()
    let e = err.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
}

@Suite struct InfoCommandTests {
    @Test func infoJSONOnBundledData() throws {
        let r = try runMLD(["info", "--data", "Data/cp2k-water64-xtb-300K", "--json"])
        #expect(r.status == 0)
        let obj = try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as! [String: Any]
        #expect(obj["atoms"] as? Int == 192)
        #expect(obj["frames"] as? Int == 900)
    }
}
