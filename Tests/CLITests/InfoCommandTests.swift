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

@Suite struct CLIErrorTests {
    @Test func badDirectoryIsOneLineAndNonZero() throws {
        let dir = NSTemporaryDirectory() + "mld-cli-empty-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let r = try runMLD(["info", "--data", dir])
        #expect(r.status != 0)
        let lines = r.err.split(separator: "\n")
        #expect(lines.count == 1 && lines[0].contains(dir) && lines[0].contains("empty directory"), "\(r.err)")
    }

    @Test func cellOptionIsValidated() throws {
        let r = try runMLD(["info", "--data", "Data/cp2k-water64-xtb-300K", "--cell", "1,-2,3"])
        #expect(r.status != 0)
        #expect(r.err.contains("--cell"), "\(r.err)")
    }

    @Test func devicesSaysSomething() throws {
        let r = try runMLD(["devices"])
        #expect(r.status == 0)
        #expect(!r.out.isEmpty)
    }
}
