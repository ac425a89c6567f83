import Foundation
import Testing
import MLD

/// `mld run` end to end: files, resume, signals and bad input.
@Suite(.serialized) struct RunCommandTests {
    static let data = "Data/cp2k-water64-xtb-300K"

    /// A quickly fitted model (small training set), written once.
    static let model: String = {
        let dir = NSTemporaryDirectory() + "mld-runcli-\(getpid())"
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let path = dir + "/model.json"
        let r = try! runMLD(["fit", "--data", data, "--train", "0..600:6", "--test", "600..900:10",
                             "--ridge", "1e-8", "--angles", "none", "--out", path])
        precondition(r.status == 0, "fit failed: \(r.err)")
        return path
    }()

    func tempDir(_ name: String) -> String {
        let p = NSTemporaryDirectory() + "mld-runcli-\(getpid())/\(name)-\(UInt32.random(in: 0..<UInt32.max))"
        return p
    }

    @Test func runWritesFilesAndResumes() throws {
        let out = tempDir("run")
        let r = try runMLD(["run", "--model", Self.model, "--start", Self.data, "--frame", "500",
                            "--steps", "40", "--every", "10", "--out", out, "--quiet", "--json"])
        #expect(r.status == 0, "\(r.err)")
        #expect(r.err.isEmpty)
        let rec = try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as! [String: Any]
        #expect(rec["stepsDone"] as? Int == 40)
        #expect(rec["status"] as? String == "completed")
        #expect(((rec["model"] as? [String: Any])?["sha256"] as? String)?.count == 64)
        let thermo = try String(contentsOfFile: out + "/thermo.csv", encoding: .utf8).split(separator: "\n")
        #expect(thermo.first == "step,time_fs,kinetic_eV,temperature_K,loss_O_eV,loss_H_eV,thermostat_eV,com_drift_A,wall_s,out_of_range,potential_eV,conserved_eV,nonconservative_work_eV")
        #expect(thermo.dropFirst().map { $0.split(separator: ",")[0] } == ["0", "10", "20", "30", "40"])
        let xyz = try String(contentsOfFile: out + "/trajectory.xyz", encoding: .utf8)
        #expect(xyz.components(separatedBy: "Properties=species:S:1:pos:R:3:velo:R:3").count - 1 == 5)

        let again = try runMLD(["run", "--resume", out, "--steps", "20", "--quiet"])
        #expect(again.status == 0, "\(again.err)")
        #expect(again.out.contains("temperature"))
        #expect(again.out.contains("canonical"))
        let rows = try String(contentsOfFile: out + "/thermo.csv", encoding: .utf8).split(separator: "\n")
        #expect(rows.dropFirst().map { $0.split(separator: ",")[0] } == ["0", "10", "20", "30", "40", "50", "60"])

        // While another process holds the run directory's lock, a resume stops in one line and
        // changes nothing; once it lets go, the resume goes on.
        let holder = Process()
        holder.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        holder.arguments = ["python3", "-c", "import fcntl, sys; f = open(sys.argv[1], 'a'); fcntl.flock(f, fcntl.LOCK_EX); print('locked', flush=True); sys.stdin.read()",
                            out + "/.lock"]
        let toHolder = Pipe(), fromHolder = Pipe()
        holder.standardInput = toHolder
        holder.standardOutput = fromHolder
        try holder.run()
        #expect(String(decoding: fromHolder.fileHandleForReading.availableData, as: UTF8.self).hasPrefix("locked"))
        let before = try Data(contentsOf: URL(fileURLWithPath: out + "/trajectory.xyz"))
        let busy = try runMLD(["run", "--resume", out, "--steps", "20", "--quiet"])
        try toHolder.fileHandleForWriting.close()
        holder.waitUntilExit()
        #expect(busy.status != 0)
        #expect(busy.err.contains("\(out) is in use by another mld process") && busy.err.split(separator: "\n").count == 1, "\(busy.err)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: out + "/trajectory.xyz")) == before)
        let free = try runMLD(["run", "--resume", out, "--steps", "10", "--quiet"])
        #expect(free.status == 0, "\(free.err)")
    }

    /// A run started with a relative --model path resumes from another working directory:
    /// run.json holds the model's absolute path.
    @Test func resumeFromAnotherWorkingDirectory() throws {
        let home = tempDir("cwd")
        try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: Self.model, toPath: home + "/model.json")
        let root = FileManager.default.currentDirectoryPath
        let data = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent(Self.data).path
        let r = try runMLD(["run", "--model", "model.json", "--start", data, "--steps", "20", "--every", "10",
                            "--out", "run", "--quiet"], in: home)
        #expect(r.status == 0, "\(r.err)")
        let rec = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: home + "/run/run.json"))) as! [String: Any]
        let stored = try #require((rec["model"] as? [String: Any])?["path"] as? String)
        #expect(stored.hasPrefix("/") && stored.hasSuffix("/model.json"), "\(stored)")
        let again = try runMLD(["run", "--resume", home + "/run", "--steps", "10", "--quiet"])
        #expect(again.status == 0, "resumed from \(root): \(again.err)")
    }

    @Test func sigintWritesCheckpointAndExitsNonZero() throws {
        let out = tempDir("sigint")
        let p = Process()
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        let exe = ProcessInfo.processInfo.environment["MLD_BINARY"]
            ?? [URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("mld").path,
                url.appendingPathComponent(".build/release/mld").path].first { FileManager.default.isExecutableFile(atPath: $0) }!
        p.executableURL = URL(fileURLWithPath: exe)
        p.currentDirectoryURL = url
        p.arguments = ["run", "--model", Self.model, "--start", Self.data, "--steps", "10000000", "--every", "10",
                       "--out", out]
        let err = Pipe()
        p.standardError = err
        p.standardOutput = Pipe()
        try p.run()
        // Wait until the run is under way (a few thermo rows), then interrupt it.
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            if let t = try? String(contentsOfFile: out + "/thermo.csv", encoding: .utf8),
               t.split(separator: "\n").count >= 4 { break }
            usleep(50_000)
        }
        p.interrupt()
        let e = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        #expect(p.terminationStatus == 130)
        let last = e.split(separator: "\n").last.map(String.init) ?? ""
        #expect(last.contains("stopped by SIGINT at step"), "\(e)")
        #expect(last.contains("--resume"))
        let rec = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/run.json"))) as! [String: Any]
        #expect((rec["status"] as? String)?.hasPrefix("interrupted at step") == true)
        let done = rec["stepsDone"] as! Int
        let rows = try String(contentsOfFile: out + "/thermo.csv", encoding: .utf8).split(separator: "\n")
        #expect(Int(rows.last!.split(separator: ",")[0])! == done / 10 * 10)
    }

    @Test(arguments: [
        (["run", "--start", data, "--out", "/tmp/x"], "--model"),
        (["run", "--model", "/nonexistent/model.json", "--start", data, "--out", "/tmp/mld-never"], "no such file"),
        (["run", "--model", "MODEL", "--start", "/nonexistent/start.xyz", "--out", "/tmp/mld-never"], "/nonexistent/start.xyz"),
        (["run", "--model", "MODEL", "--start", data, "--frame", "5000", "--out", "/tmp/mld-never"], "--frame 5000"),
        (["run", "--model", "MODEL", "--start", data, "--dt", "-1", "--out", "/tmp/mld-never"], "--dt"),
        (["run", "--model", "MODEL", "--start", data, "--thermostat", "berendsen", "--out", "/tmp/mld-never"], "berendsen"),
        (["run", "--resume", "/nonexistent/run"], "/nonexistent/run"),
        (["run", "--resume", "/tmp", "--model", "MODEL"], "--resume"),
        (["run", "--resume", "/tmp", "--tau", "50", "--massive"], "drop --tau, --massive"),
        (["run", "--model", "MODEL", "--start", data, "--thermostat", "langevin", "--tau", "0", "--out", "/tmp/mld-never"], "--tau"),
        (["run", "--model", "MODEL", "--start", data, "--thermostat", "csvr", "--tau=-20", "--out", "/tmp/mld-never"], "--tau"),
        (["run", "--model", "MODEL", "--start", data, "--thermostat", "csvr", "--tau", "nan", "--out", "/tmp/mld-never"], "--tau"),
        (["run", "--model", "MODEL", "--start", data, "--thermostat", "langevin", "--tau", "inf", "--out", "/tmp/mld-never"], "--tau"),
        (["run", "--model", "MODEL", "--start", data, "--thermostat", "csvr", "--chain", "3", "--out", "/tmp/mld-never"], "--chain"),
        (["run", "--resume", "/tmp", "--thermostat", "csvr"], "drop --thermostat"),
        (["run", "--model", "MODEL", "--start", data, "--trajectory-format", "dcd", "--out", "/tmp/mld-never"], "'dcd'"),
        (["run", "--model", "MODEL", "--start", data, "--trajectory-format", "", "--out", "/tmp/mld-never"], "--trajectory-format"),
        (["run", "--model", "MODEL", "--start", data, "--cpu-precision", "single", "--out", "/tmp/mld-never"], "'single'"),
    ])
    func badInputIsOneClearLine(args: [String], mention: String) throws {
        let r = try runMLD(args.map { $0 == "MODEL" ? Self.model : $0 })
        #expect(r.status != 0)
        #expect(r.err.contains(mention), "\(r.err)")
        #expect(!FileManager.default.fileExists(atPath: "/tmp/mld-never"))
    }

    /// --cpu-precision mixed runs, and run.json's device says which arithmetic ran.
    @Test func cpuPrecisionIsRecorded() throws {
        for precision in ["mixed", "double"] {
            let out = tempDir("precision-\(precision)")
            let r = try runMLD(["run", "--model", Self.model, "--start", Self.data, "--steps", "10", "--every", "10",
                                "--backend", "cpu", "--cpu-precision", precision, "--out", out, "--quiet"])
            #expect(r.status == 0, "\(r.err)")
            let rec = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/run.json"))) as! [String: Any]
            let device = try #require(rec["device"] as? String)
            #expect(device.contains(precision == "mixed" ? "mixed precision" : "double precision"), "\(device)")
        }
    }

    /// --trajectory-format both writes trajectory.nc beside trajectory.xyz with the same frames;
    /// a resume asking for another format is refused in one line and changes nothing, one asking
    /// for the run's own format goes on.
    @Test func netcdfTrajectoryRunsAndResumes() throws {
        let out = tempDir("netcdf")
        let r = try runMLD(["run", "--model", Self.model, "--start", Self.data, "--frame", "500", "--steps", "20",
                            "--every", "10", "--trajectory-format", "both", "--out", out, "--quiet"])
        #expect(r.status == 0, "\(r.err)")
        #expect(r.out.contains("/trajectory.xyz, trajectory.nc, thermo.csv"), "\(r.out)")
        let nc = try AmberNetCDFReader(out + "/trajectory.nc")
        let xyz = try ExtendedXYZ.read(out + "/trajectory.xyz")
        #expect(nc.frameCount == 3 && nc.atoms == 192 && nc.elements == xyz[0].atomElements.map(\.symbol))
        #expect(try nc.frames() == xyz.map(AmberNetCDF.Frame.init(configuration:)))
        let rec = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/run.json"))) as! [String: Any]
        #expect(rec["trajectoryFormat"] as? String == "both")

        let files = ["trajectory.xyz", "trajectory.nc", "thermo.csv", "checkpoint.bin", "run.json"]
        let before = files.map { FileManager.default.contents(atPath: out + "/" + $0) }
        let other = try runMLD(["run", "--resume", out, "--steps", "10", "--trajectory-format", "netcdf", "--quiet"])
        #expect(other.status == 1)
        #expect(other.err.split(separator: "\n").count == 1 && other.err.contains("--trajectory-format netcdf")
                && other.err.contains("as both"), "\(other.err)")
        #expect(files.map { FileManager.default.contents(atPath: out + "/" + $0) } == before)

        let same = try runMLD(["run", "--resume", out, "--steps", "10", "--trajectory-format", "both", "--quiet"])
        #expect(same.status == 0, "\(same.err)")
        #expect(try AmberNetCDFReader(out + "/trajectory.nc").frameCount == 4)

        // netcdf alone: no trajectory.xyz.
        let only = tempDir("netcdf-only")
        let n = try runMLD(["run", "--model", Self.model, "--start", Self.data, "--steps", "10", "--every", "5",
                            "--trajectory-format", "netcdf", "--out", only, "--quiet"])
        #expect(n.status == 0, "\(n.err)")
        #expect(!FileManager.default.fileExists(atPath: only + "/trajectory.xyz"))
        #expect(try AmberNetCDFReader(only + "/trajectory.nc").frameCount == 3)
    }

    @Test func existingRunDirectoryIsRefused() throws {
        let out = tempDir("twice")
        let args = ["run", "--model", Self.model, "--start", Self.data, "--steps", "10", "--out", out, "--quiet"]
        #expect(try runMLD(args).status == 0)
        let r = try runMLD(args)
        #expect(r.status == 1)
        #expect(r.err.contains("already holds a run"))
    }

    /// With the learned model: a CSVR or Langevin run of 60 steps, and one of 30 steps resumed for
    /// 30 more, write the same thermo rows (but wall seconds) and the same trajectory, byte for byte.
    @Test(arguments: ["csvr", "langevin"])
    func stochasticThermostatResumesBitIdentically(thermostat: String) throws {
        let full = tempDir("\(thermostat)-full"), split = tempDir("\(thermostat)-split")
        let common = ["run", "--model", Self.model, "--start", Self.data, "--frame", "500", "--thermostat", thermostat,
                      "--tau", "50", "--every", "10", "--quiet"]
        let a = try runMLD(common + ["--steps", "60", "--out", full])
        #expect(a.status == 0, "\(a.err)")
        #expect(a.out.contains(thermostat == "csvr" ? "CSVR" : "Langevin"), "\(a.out)")
        let b = try runMLD(common + ["--steps", "30", "--out", split])
        #expect(b.status == 0, "\(b.err)")
        let c = try runMLD(["run", "--resume", split, "--steps", "30", "--quiet"])
        #expect(c.status == 0, "\(c.err)")
        func rows(_ dir: String) throws -> [String] {
            try String(contentsOfFile: dir + "/thermo.csv", encoding: .utf8).split(separator: "\n").map {
                var f = $0.split(separator: ",", omittingEmptySubsequences: false)
                f.remove(at: 8)      // wall_s
                return f.joined(separator: ",")
            }
        }
        let ra = try rows(full)
        #expect(ra.count == 8)
        #expect(try rows(split) == ra)
        #expect(try String(contentsOfFile: split + "/trajectory.xyz", encoding: .utf8)
                == String(contentsOfFile: full + "/trajectory.xyz", encoding: .utf8))
        // The heat counter is the thermostat_eV column, and the thermostat did something.
        #expect(Double(ra.last!.split(separator: ",")[6])! != 0)
    }
}
