import Foundation
import MLD
import Testing

/// No command overwrites or deletes a file it did not write: an existing foreign file in the
/// output place survives, and the command says so in one line and exits 1. `--force` replaces
/// only mld's own files.
@Suite(.serialized) struct OutputSafetyTests {
    static let data = "Data/cp2k-water64-xtb-300K"

    /// A quickly fitted model, written once.
    static let model: String = {
        let dir = NSTemporaryDirectory() + "mld-safety-model-\(getpid())"
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let path = dir + "/model.json"
        let r = try! runMLD(["fit", "--data", data, "--train", "0..600:6", "--test", "600..900:10",
                             "--ridge", "1e-8", "--angles", "none", "--out", path])
        precondition(r.status == 0, "fit failed: \(r.err)")
        return path
    }()

    func folder(_ name: String) throws -> String { try temporaryFolder("safety-\(name)").path }

    func write(_ text: String, _ path: String) throws { try text.write(toFile: path, atomically: false, encoding: .utf8) }
    func read(_ path: String) -> String? { try? String(contentsOfFile: path, encoding: .utf8) }

    /// One line on standard error, naming `path`, exit status 1.
    func expectRefused(_ r: (status: Int32, out: String, err: String), naming path: String,
                       sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(r.status == 1, "status \(r.status): \(r.err)", sourceLocation: sourceLocation)
        #expect(r.err.split(separator: "\n").count == 1, "\(r.err)", sourceLocation: sourceLocation)
        #expect(r.err.hasPrefix("mld: error: ") && r.err.contains(path), "\(r.err)", sourceLocation: sourceLocation)
    }

    // MARK: compare

    @Test func compareNeverDeletesAForeignDirectory() throws {
        let parent = try folder("compare")
        defer { try? FileManager.default.removeItem(atPath: parent) }
        let out = parent + "/report"
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        try write("my notes\n", out + "/notes.txt")
        try write("my own summary\n", out + "/summary.csv")
        let args = ["compare", "--reference", Self.data, "--run", smallRunDirectory + "/run", "--out", out]
        let env = ["MLD_GNUPLOT": "/nonexistent/gnuplot"]

        let r = try runMLD(args, environment: env)
        expectRefused(r, naming: out)
        #expect(read(out + "/notes.txt") == "my notes\n")
        #expect(read(out + "/summary.csv") == "my own summary\n")
        #expect(!FileManager.default.fileExists(atPath: out + "/summary.json"))

        // --force: the report's files are written (summary.csv among them), the rest stays.
        let f = try runMLD(args + ["--force", "--scan", smallRunDirectory + "/scan.csv"], environment: env)
        #expect(f.status == 0, "\(f.err)")
        #expect(read(out + "/notes.txt") == "my notes\n")
        #expect(read(out + "/summary.csv")?.hasPrefix("name,unit,reference,learned") == true)
        #expect(FileManager.default.fileExists(atPath: out + "/summary.json"))
        #expect(FileManager.default.fileExists(atPath: out + "/scan_rel_rmse.gp"))
        #expect(FileManager.default.fileExists(atPath: out + "/" + ComparisonReport.manifestName))

        // Now an mld report: written again without --force; the file the new report no longer
        // writes (the scan figure) goes, the user's file stays.
        let again = try runMLD(args, environment: env)
        #expect(again.status == 0, "\(again.err)")
        #expect(read(out + "/notes.txt") == "my notes\n")
        #expect(!FileManager.default.fileExists(atPath: out + "/scan_rel_rmse.gp"))
        #expect(FileManager.default.fileExists(atPath: out + "/rdf.gp"))
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: parent).filter { $0.hasPrefix(".report") }
        #expect(leftovers.isEmpty, "left behind: \(leftovers)")
    }

    @Test func compareRefusesAFileAsItsDirectory() throws {
        let parent = try folder("compare-file")
        defer { try? FileManager.default.removeItem(atPath: parent) }
        let out = parent + "/report"
        try write("not a directory\n", out)
        let r = try runMLD(["compare", "--reference", Self.data, "--run", smallRunDirectory + "/run", "--out", out, "--force"],
                           environment: ["MLD_GNUPLOT": "/nonexistent/gnuplot"])
        expectRefused(r, naming: out)
        #expect(read(out) == "not a directory\n")
    }

    @Test(.enabled(if: gnuplotInstalled, "gnuplot is not installed: the report takes too little time to interrupt"))
    func compareStoppedBySIGTERMLeavesNoTemporaryDirectory() throws {
        let parent = try folder("compare-sigterm")
        defer { try? FileManager.default.removeItem(atPath: parent) }
        let out = parent + "/report"
        let p = try startMLD(["compare", "--reference", Self.data, "--run", smallRunDirectory + "/run", "--out", out])
        // Wait for the temporary report directory, then stop the command.
        var seen = false
        let deadline = Date().addingTimeInterval(120)
        while Date() < deadline && p.process.isRunning {
            if let names = try? FileManager.default.contentsOfDirectory(atPath: parent),
               names.contains(where: { $0.hasPrefix(".report.tmp-") }) { seen = true; break }
            usleep(2_000)
        }
        p.process.terminate()
        let err = p.readError()
        p.process.waitUntilExit()
        guard seen else { return }  // finished before it could be interrupted: nothing to check
        #expect(p.process.terminationStatus == 143, "\(err)")
        #expect(err.contains("stopped by SIGTERM"), "\(err)")
        let names = try FileManager.default.contentsOfDirectory(atPath: parent)
        #expect(names.isEmpty, "left behind: \(names)")
    }

    // MARK: run

    @Test func runNeverOverwritesForeignFiles() throws {
        let out = try folder("run")
        defer { try? FileManager.default.removeItem(atPath: out) }
        try write("my thermo\n", out + "/thermo.csv")
        try write("my notes\n", out + "/notes.txt")
        let args = ["run", "--model", Self.model, "--start", Self.data, "--steps", "10", "--out", out, "--quiet"]
        let r = try runMLD(args)
        expectRefused(r, naming: out)
        #expect(read(out + "/thermo.csv") == "my thermo\n")
        #expect(!FileManager.default.fileExists(atPath: out + "/run.json"))
        #expect(!FileManager.default.fileExists(atPath: out + "/trajectory.xyz"))

        // --force replaces the run's own files only.
        let f = try runMLD(args + ["--force"])
        #expect(f.status == 0, "\(f.err)")
        #expect(read(out + "/thermo.csv")?.hasPrefix("step,") == true)
        #expect(read(out + "/notes.txt") == "my notes\n")

        // A run there now: refused without --force, with the --resume hint; --force starts afresh.
        let twice = try runMLD(args)
        #expect(twice.status == 1 && twice.err.contains("already holds a run") && twice.err.contains("--force"), "\(twice.err)")
        let fresh = try runMLD(args + ["--force", "--steps", "20"])
        #expect(fresh.status == 0, "\(fresh.err)")
        #expect(read(out + "/notes.txt") == "my notes\n")
        let rows = read(out + "/thermo.csv")!.split(separator: "\n").dropFirst().map { $0.split(separator: ",")[0] }
        #expect(rows == ["0", "10", "20"])
        #expect(try runMLD(["run", "--resume", out, "--force"]).status != 0)
    }

    @Test func runRefusesAFileAsItsDirectory() throws {
        let dir = try folder("run-file")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let out = dir + "/run"
        try write("a file\n", out)
        let r = try runMLD(["run", "--model", Self.model, "--start", Self.data, "--steps", "10", "--out", out, "--quiet", "--force"])
        expectRefused(r, naming: out)
        #expect(read(out) == "a file\n")
    }

    // MARK: box

    @Test func boxNeverOverwritesAnExistingFile() throws {
        let dir = try folder("box")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let out = dir + "/box.xyz"
        try write("precious\n", out)
        let r = try runMLD(["box", "--molecules", "64", "--out", out])
        expectRefused(r, naming: out)
        #expect(read(out) == "precious\n")
        let f = try runMLD(["box", "--molecules", "64", "--out", out, "--force"])
        #expect(f.status == 0, "\(f.err)")
        #expect(try ExtendedXYZ.read(out)[0].count == 192)
        let d = try runMLD(["box", "--molecules", "64", "--out", dir, "--force"])
        expectRefused(d, naming: dir)
    }

    // MARK: fit

    @Test func fitNeverOverwritesAForeignFile() throws {
        let dir = try folder("fit")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let out = dir + "/model.json"
        try write("{\"mine\": true}\n", out)
        let args = ["fit", "--data", Self.data, "--train", "0..60:6", "--test", "840..900:20", "--ridge", "1e-8",
                    "--nearest", "O:2,H:2", "--out", out]
        let r = try runMLD(args)
        expectRefused(r, naming: out)
        #expect(read(out) == "{\"mine\": true}\n")
        // An mld model there is replaced.
        try FileManager.default.removeItem(atPath: out)
        #expect(try runMLD(args).status == 0)
        let again = try runMLD(args)
        #expect(again.status == 0, "\(again.err)")
        // The scan CSV: a foreign file is refused, --force replaces it.
        let csv = dir + "/scan.csv"
        try write("a,b\n", csv)
        let scan = ["fit", "--data", Self.data, "--train", "0..60:6", "--test", "840..900:20", "--ridge", "1e-8",
                    "--scan", "neighbours=1:2", "--angles", "none", "--scan-out", csv]
        expectRefused(try runMLD(scan), naming: csv)
        #expect(read(csv) == "a,b\n")
        let f = try runMLD(scan + ["--force"])
        #expect(f.status == 0, "\(f.err)")
        #expect(read(csv)?.hasPrefix("neighbours,train_rel_rmse_O") == true)
        #expect(try runMLD(scan).status == 0)  // now mld's own scan CSV
    }

    // MARK: bench

    @Test func benchNeverOverwritesAForeignFile() throws {
        let dir = try folder("bench")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let out = dir + "/bench.json"
        try write("{\"mine\": true}\n", out)
        let args = ["bench", "--model", Self.model, "--atoms", "192", "--steps", "2", "--repeats", "1", "--out", out]
        expectRefused(try runMLD(args), naming: out)
        #expect(read(out) == "{\"mine\": true}\n")
        let f = try runMLD(args + ["--force"])
        #expect(f.status == 0, "\(f.err)")
        let obj = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out))) as? [String: Any]
        #expect((obj?["results"] as? [Any])?.count == 1)
        #expect(try runMLD(args).status == 0)  // an mld bench report is replaced
    }
}

/// A started `mld` process whose standard error can be read once it ends.
struct StartedMLD {
    var process: Process
    var error: Pipe
    func readError() -> String { String(decoding: error.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self) }
}

/// Starts the built `mld` binary from the package root (as `runMLD` does) without waiting.
func startMLD(_ args: [String]) throws -> StartedMLD {
    var url = URL(fileURLWithPath: #filePath)
    for _ in 0..<3 { url.deleteLastPathComponent() }
    let besideTests = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        .appendingPathComponent("mld").path
    let candidates = [besideTests] + [".build/release/mld", ".build/debug/mld"].map { url.appendingPathComponent($0).path }
    let exe = ProcessInfo.processInfo.environment["MLD_BINARY"]
        ?? candidates.first { FileManager.default.isExecutableFile(atPath: $0) }!
    let p = Process()
    p.executableURL = URL(fileURLWithPath: exe)
    p.arguments = args
    p.currentDirectoryURL = url
    let err = Pipe()
    p.standardError = err
    p.standardOutput = FileHandle.nullDevice
    try p.run()
    return StartedMLD(process: p, error: err)
}
