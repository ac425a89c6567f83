import Foundation
import MLD
import Testing

/// Requests too big to make sense are one line before any work; numbers JSON cannot hold are
/// one line, not an EncodingError; negative values after a space parse; usage errors exit 1;
/// SIGTERM stops a run with a checkpoint that resumes byte for byte.
@Suite(.serialized) struct LimitsAndSignalsTests {
    static let data = "Data/cp2k-water64-xtb-300K"
    static var model: String { OutputSafetyTests.model }

    func expectOneLine(_ r: (status: Int32, out: String, err: String), mentioning text: String,
                       sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(r.status == 1, "status \(r.status): \(r.err)", sourceLocation: sourceLocation)
        #expect(r.err.split(separator: "\n").count == 1 && r.err.hasPrefix("mld: error: "), "\(r.err)", sourceLocation: sourceLocation)
        #expect(r.err.contains(text), "\(r.err)", sourceLocation: sourceLocation)
    }

    @Test func hugeRequestsAreRefusedBeforeAnyWork() throws {
        let dir = try temporaryFolder("limits")
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("x").path
        expectOneLine(try runMLD(["box", "--molecules", "8", "--replicate", "100000x100000x100000", "--out", out]), mentioning: "--replicate")
        expectOneLine(try runMLD(["box", "--molecules", "8", "--replicate", "10000000000x10000000000x10000000000", "--out", out]), mentioning: "--replicate")
        expectOneLine(try runMLD(["box", "--from", Self.data, "--frame", "0", "--replicate", "250x1x1", "--out", out]), mentioning: "too large")
        expectOneLine(try runMLD(["box", "--from", Self.data, "--frame", "0", "--replicate", "300", "--out", out]), mentioning: "600000000 atoms")
        for tau in ["0", "-1", "nan", "inf"] {
            expectOneLine(try runMLD(["bench", "--model", Self.model, "--atoms", "192", "--tau=\(tau)"]), mentioning: "--tau")
        }
        expectOneLine(try runMLD(["bench", "--model", Self.model, "--atoms", "192,1000000000000"]), mentioning: "--atoms")
        expectOneLine(try runMLD(["run", "--resume", dir.path, "--steps", "9223372036854775807"]), mentioning: "--steps")
        expectOneLine(try runMLD(["run", "--model", Self.model, "--start", Self.data, "--chain", "1000000", "--out", out]), mentioning: "--chain")
        expectOneLine(try runMLD(["info", "--data", Self.data, "--cell", "inf,12,12", "--json"]), mentioning: "--cell")
        #expect(!FileManager.default.fileExists(atPath: out))

        // A huge Lattice in an extended-XYZ start.
        let xyz = dir.appendingPathComponent("huge.xyz").path
        try "3\nLattice=\"5000 0 0 0 12 0 0 0 12\" Properties=species:S:1:pos:R:3\nO 1 1 1\nH 1.9 1 1\nH 1 1.9 1\n"
            .write(toFile: xyz, atomically: true, encoding: .utf8)
        expectOneLine(try runMLD(["box", "--from", xyz, "--out", out]), mentioning: "too large")
        expectOneLine(try runMLD(["run", "--model", Self.model, "--start", xyz, "--out", out, "--quiet"]), mentioning: "too large")
        #expect(!FileManager.default.fileExists(atPath: out))
    }

    @Test func nonFiniteNumbersNeverReachTheJSONEncoder() throws {
        // A CP2K directory whose .ener temperatures overflow to infinity.
        let dir = try temporaryFolder("inf-ener")
        defer { try? FileManager.default.removeItem(at: dir) }
        var pos = ""
        for step in 0..<2 {
            pos += "3\n i = \(step), time = \(Double(step) * 0.5), E = -10.0\nO 1.0 1.0 1.0\nH 1.9 1.0 1.0\nH 1.0 1.9 1.0\n"
        }
        try pos.write(to: dir.appendingPathComponent("w-pos-1.xyz"), atomically: true, encoding: .utf8)
        try " 0 0.0 0.1 1e309 -1.0 -0.9 1.0\n 1 0.5 0.1 1e309 -1.0 -0.9 1.0\n"
            .write(to: dir.appendingPathComponent("w-1.ener"), atomically: true, encoding: .utf8)
        // The reader refuses the overflowing number where it stands (file, line, column), with or
        // without --json, so no non-finite value reaches the encoder.
        for args in [["--json"], []] {
            let r = try runMLD(["info", "--data", dir.path, "--cell", "6"] + args)
            #expect(r.status == 1, "\(r.out)\(r.err)")
            #expect(r.err.split(separator: "\n").count == 1 && r.err.hasPrefix("mld: error: "), "\(r.err)")
            #expect(r.err.contains("w-1.ener:1") && r.err.contains("not a finite number"), "\(r.err)")
            #expect(!r.err.contains("EncodingError"), "\(r.err)")
        }
    }

    @Test func evalOfAModelWithInfiniteErrorsIsOneLine() throws {
        // The model's weights scaled to ~1e306: its force errors overflow to inf.
        let dir = try temporaryFolder("inf-model")
        defer { try? FileManager.default.removeItem(at: dir) }
        var obj = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: Self.model))) as! [String: Any]
        obj["losses"] = (obj["losses"] as! [[String: Any]]).map { loss in
            var l = loss
            for key in ["W", "w"] { l[key] = (l[key] as! [Double]).map { $0 * 1e306 } }
            return l
        }
        let bad = dir.appendingPathComponent("inf.json").path
        try JSONSerialization.data(withJSONObject: obj).write(to: URL(fileURLWithPath: bad))
        let r = try runMLD(["eval", "--model", bad, "--data", Self.data, "--frames", "0..2", "--json"])
        expectOneLine(r, mentioning: "cannot write JSON")
        #expect(r.err.contains("relRMSE is inf, not a finite number"), "\(r.err)")
    }

    @Test func benchRefusesADirectoryWithTwoEnerFiles() throws {
        let dir = try temporaryFolder("two-ener")
        defer { try? FileManager.default.removeItem(at: dir) }
        for name in ["a-1.ener", "b-1.ener"] {
            try " 0 0.0 0.1 300.0 -1.0 -0.9 1.0\n 1 0.5 0.1 300.0 -1.0 -0.9 2.0\n"
                .write(to: dir.appendingPathComponent(name), atomically: true, encoding: .utf8)
        }
        let r = try runMLD(["bench", "--model", Self.model, "--atoms", "192", "--steps", "1", "--repeats", "1", "--cp2k", dir.path])
        expectOneLine(r, mentioning: "a-1.ener, b-1.ener")
    }

    @Test func negativeFrameAfterASpace() throws {
        let dir = try temporaryFolder("frame")
        defer { try? FileManager.default.removeItem(at: dir) }
        let xyz = dir.appendingPathComponent("last.xyz").path
        let b = try runMLD(["box", "--from", Self.data, "--frame", "-1", "--out", xyz])
        #expect(b.status == 0, "\(b.err)")
        #expect(try ExtendedXYZ.read(xyz)[0].step == 899)
        let run = dir.appendingPathComponent("run").path
        let r = try runMLD(["run", "--model", Self.model, "--start", Self.data, "--frame", "-2", "--steps", "0",
                            "--out", run, "--quiet", "--json"])
        #expect(r.status == 0, "\(r.err)")
        let rec = try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [String: Any]
        #expect((rec?["start"] as? [String: Any])?["frame"] as? Int == 898)
    }

    @Test(arguments: [
        ["run", "--steps=-5", "--model", "m.json", "--start", "s", "--out", "o"],
        ["run", "--no-such-option"],
        ["compare", "--reference", "x"],
        ["bench"],
    ])
    func usageErrorsExitOneWithOneLine(args: [String]) throws {
        let r = try runMLD(args)
        #expect(r.status == 1, "status \(r.status): \(r.err)")
        #expect(r.err.split(separator: "\n").count == 1 && r.err.hasPrefix("mld: error: "), "\(r.err)")
        #expect(try runMLD([args[0], "--help"]).status == 0)
    }

    /// SIGTERM: exit 143, run.json says interrupted, and the resumed run is byte for byte the
    /// uninterrupted one (trajectory.xyz, and thermo.csv without its wall-clock column).
    @Test func sigtermCheckpointsAndResumesByteIdentically() throws {
        let dir = try temporaryFolder("sigterm")
        defer { try? FileManager.default.removeItem(at: dir) }
        let full = dir.appendingPathComponent("full").path, split = dir.appendingPathComponent("split").path
        let common = ["--model", Self.model, "--start", Self.data, "--frame", "100", "--steps", "20000", "--every", "100"]
        let p = try startMLD(["run"] + common + ["--out", split])
        let deadline = Date().addingTimeInterval(120)
        while Date() < deadline && p.process.isRunning {
            if let t = try? String(contentsOfFile: split + "/thermo.csv", encoding: .utf8),
               t.split(separator: "\n").count >= 3 { break }
            usleep(20_000)
        }
        p.process.terminate()
        let err = p.readError()
        p.process.waitUntilExit()
        let rec = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: split + "/run.json"))) as! [String: Any]
        if p.process.terminationStatus == 0 {
            Issue.record("the run finished before SIGTERM reached it; nothing interrupted")
            return
        }
        #expect(p.process.terminationStatus == 143, "\(err)")
        #expect(err.split(separator: "\n").last?.contains("stopped by SIGTERM") == true, "\(err)")
        #expect((rec["status"] as? String)?.hasPrefix("interrupted at step") == true)
        let done = rec["stepsDone"] as! Int
        #expect(try Checkpoint(contentsOf: split + "/checkpoint.bin").step == done)

        let resumed = try runMLD(["run", "--resume", split, "--quiet"])
        #expect(resumed.status == 0, "\(resumed.err)")
        let whole = try runMLD(["run"] + common + ["--out", full, "--quiet"])
        #expect(whole.status == 0, "\(whole.err)")
        #expect(FileManager.default.contents(atPath: split + "/trajectory.xyz") == FileManager.default.contents(atPath: full + "/trajectory.xyz"))
        func thermo(_ d: String) throws -> [String] {
            try String(contentsOfFile: d + "/thermo.csv", encoding: .utf8).split(separator: "\n").map {
                var f = $0.split(separator: ",", omittingEmptySubsequences: false)
                f.remove(at: 8)      // wall_s
                return f.joined(separator: ",")
            }
        }
        #expect(try thermo(split) == thermo(full))
    }

    /// A bad input file is one line naming the file and the line: `mld: error: PATH:LINE: ...`.
    @Test func fileErrorsNameTheFileAndLine() throws {
        let dir = try temporaryFolder("fileline")
        defer { try? FileManager.default.removeItem(at: dir) }
        let xyz = dir.appendingPathComponent("bad.xyz").path
        try "3\r\nLattice=\"9 0 0 0 9 0 0 0 9\" Properties=species:S:1:pos:R:3\r\nO 0 0 0\r\nH 1 0 0\r\n".write(toFile: xyz, atomically: true, encoding: .utf8)
        let r = try runMLD(["box", "--from", xyz, "--out", dir.appendingPathComponent("o.xyz").path])
        expectOneLine(r, mentioning: "truncated frame")
        #expect(r.err.hasPrefix("mld: error: \(xyz):5: "), "\(r.err.debugDescription)")
        #expect(!r.err.dropLast().contains("\r"))
    }

    /// What stopped without a record or with a stack trace before: a thermostat time constant of
    /// 1e300 fs runs and completes its record; a 200 fs step blows up in one line and the record
    /// says so; a basis of 200 Gaussians per species is refused before any work.
    @Test func extremeSettingsEndInARecordOrOneLine() throws {
        let dir = try temporaryFolder("extreme")
        defer { try? FileManager.default.removeItem(at: dir) }
        func status(_ run: String) throws -> String? {
            let obj = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: run + "/run.json"))) as? [String: Any]
            return obj?["status"] as? String
        }
        let slow = dir.appendingPathComponent("tau").path
        let r = try runMLD(["run", "--model", Self.model, "--start", Self.data, "--steps", "20", "--tau", "1e300", "--out", slow, "--quiet"])
        #expect(r.status == 0, "\(r.err)")
        #expect(try status(slow) == "completed")
        let fast = dir.appendingPathComponent("dt").path
        expectOneLine(try runMLD(["run", "--model", Self.model, "--start", Self.data, "--steps", "200", "--dt", "200", "--out", fast, "--quiet"]),
                      mentioning: "moved")
        #expect(try status(fast)?.hasPrefix("failed: step") == true)
        expectOneLine(try runMLD(["fit", "--data", Self.data, "--invariants", "radial", "--basis", "gaussian:200",
                                  "--out", dir.appendingPathComponent("m.json").path]), mentioning: "at most 256")
    }
}
