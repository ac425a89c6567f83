import Foundation
import MLD
import Testing

/// `mld bench` end to end on small boxes: the command runs and reports every promised column.
/// No timing is asserted (timings are the benchmark's job, not a test's).
@Suite(.serialized) struct BenchCommandTests {
    /// A model fitted on a slice of the bundled data, shared by the tests of this suite.
    static let model: String = {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mld-bench-model-\(getpid())")
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let path = dir.appendingPathComponent("model.json").path
        let r = try? runMLD(["fit", "--data", "Data/cp2k-water64-xtb-300K", "--train", "0..200:2",
                             "--test", "800..900:10", "--angles", "none", "--out", path])
        if r?.status != 0 { print("mld fit failed: \(r?.err ?? "did not run")") }
        return path
    }()

    /// Whether `mld devices` lists an OpenCL device.
    static let hasOpenCL: Bool = {
        guard let r = try? runMLD(["devices", "--json"]), r.status == 0,
              let list = try? JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [Any] else { return false }
        if list.isEmpty { print("SKIPPED: no OpenCL device; the mld bench --backend opencl test does not run") }
        return !list.isEmpty
    }()

    func checkResult(_ r: [String: Any], backend: String, atoms: Int) {
        #expect(r["backend"] as? String == backend)
        #expect(r["atoms"] as? Int == atoms)
        #expect(r["steps"] as? Int == 2)
        #expect(r["repeats"] as? Int == 2)
        #expect(r["timedSteps"] as? Int == 4)
        for key in ["stepsPerSecond", "atomStepsPerSecond", "nsPerDay", "forceSeconds"] {
            let s = r[key] as? [String: Double]
            #expect(s != nil, "\(key) missing")
            if let s {
                #expect(s["min"]! > 0 && s["min"]! <= s["median"]! && s["median"]! <= s["max"]!, "\(key): \(s)")
            }
        }
        let steps = (r["stepsPerSecond"] as! [String: Double])["median"]!
        let atomSteps = (r["atomStepsPerSecond"] as! [String: Double])["median"]!
        let nsDay = (r["nsPerDay"] as! [String: Double])["median"]!
        #expect(abs(atomSteps - steps * Double(atoms)) <= 1e-9 * atomSteps)
        #expect(abs(nsDay - steps * 0.5e-6 * 86_400) <= 1e-9 * nsDay)
        #expect((r["neighbourRebuilds"] as? Int).map { $0 >= 0 } == true)
        // The peak is per size only where /proc/self/clear_refs can reset it (Linux, as here).
        if FileManager.default.isWritableFile(atPath: "/proc/self/clear_refs") {
            #expect((r["peakResidentBytes"] as? Int).map { $0 > 1_000_000 } == true)
        }
        #expect((r["device"] as? String).map { !$0.isEmpty } == true)
        #expect((r["cpuSecondsPerStep"] as? Double).map { $0 > 0 } == true)
        let t = r["finalTemperature"] as? Double
        #expect(t.map { $0 > 100 && $0 < 1000 } == true, "temperature after the timed steps: \(String(describing: t))")
    }

    @Test func cpuJSONHasEveryColumnAndTheCP2KSpeedUp() throws {
        // 192 and 1536 are the tiled CP2K frame; 999 atoms is a fresh 333-molecule water box.
        let r = try runMLD(["bench", "--model", Self.model, "--backend", "cpu", "--atoms", "192,1536,999",
                            "--steps", "2", "--repeats", "2", "--cp2k", "Data/cp2k-water64-xtb-300K", "--json"])
        #expect(r.status == 0, "\(r.err)")
        let obj = try #require(try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [String: Any])
        let results = try #require(obj["results"] as? [[String: Any]])
        #expect(results.count == 3)
        for (res, n) in zip(results, [192, 1536, 999]) { checkResult(res, backend: "cpu", atoms: n) }
        #expect((results[0]["origin"] as? String)?.contains("tiled 1x1x1") == true)
        #expect((results[1]["origin"] as? String)?.contains("tiled 2x2x2") == true)
        #expect((results[2]["origin"] as? String)?.contains("333 molecules") == true)
        let cp2k = try #require(obj["cp2k"] as? [String: Any])
        #expect(cp2k["atoms"] as? Int == 192)
        let perStep = try #require((cp2k["secondsPerStep"] as? [String: Double])?["median"])
        #expect(abs(perStep - 2.48) < 0.01)   // the README's median
        let speedup = try #require((obj["speedup"] as? [String: Double])?["cpu"])
        let rate = (results[0]["stepsPerSecond"] as! [String: Double])["median"]!
        #expect(abs(speedup - perStep * rate) <= 1e-9 * speedup)
        let machine = try #require(obj["machine"] as? [String: Any])
        #expect((machine["cores"] as? Int).map { $0 >= 1 } == true)
        #expect(machine["cpuModel"] is String && machine["date"] is String)
        // The per-phase breakdown: every phase timed, none longer than the step they add up to.
        for res in results {
            let phases = try #require(res["phases"] as? [String: Double], "no phases in \(res)")
            let step = try #require(phases["step"])
            for key in ["force", "integration", "thermostat", "other", "outputPerFrame"] {
                #expect(phases[key] != nil, "phases lack \(key)")
            }
            #expect(phases["rebuild"] != nil, "the CPU backend times its rebuilds")
            #expect(step > 0 && phases["force"]! > 0 && phases["integration"]! > 0 && phases["outputPerFrame"]! > 0)
            let parts = ["force", "rebuild", "integration", "thermostat"].map { phases[$0]! }.reduce(0, +)
            #expect(parts <= step * (1 + 1e-9), "phases \(parts) s exceed the step \(step) s")
            #expect(abs(parts + phases["other"]! - step) <= 1e-9 * step)
        }
    }

    /// `--shuffle`: the same box with its atoms in a random order, said in the result and the
    /// settings, and timed as sanely as the tiled one.
    @Test func shuffleNumbersTheAtomsAnew() throws {
        let r = try runMLD(["bench", "--model", Self.model, "--backend", "cpu", "--atoms", "1536",
                            "--steps", "2", "--repeats", "2", "--shuffle", "--json"])
        #expect(r.status == 0, "\(r.err)")
        let obj = try #require(try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [String: Any])
        #expect((obj["settings"] as? [String: Any])?["shuffled"] as? Bool == true)
        let results = try #require(obj["results"] as? [[String: Any]])
        #expect(results.count == 1)
        checkResult(results[0], backend: "cpu", atoms: 1536)
        #expect((results[0]["origin"] as? String) == "reference frame tiled 2x2x2, atoms in random order")
    }

    @Test func textTableHasTheColumns() throws {
        let r = try runMLD(["bench", "--model", Self.model, "--atoms", "192", "--steps", "2", "--repeats", "2",
                            "--cp2k", "Data/cp2k-water64-xtb-300K"])
        #expect(r.status == 0, "\(r.err)")
        for column in ["atoms", "steps/s", "atom-steps/s", "ns/day", "force ms", "transfer ms", "rebuilds",
                       "peak MB", "device: cpu", "CP2K:", "speed-up of the mld cpu step", "machine:",
                       "ms/step: force", "rebuild", "integration", "thermostat", "extended XYZ"] {
            #expect(r.out.contains(column), "missing '\(column)' in:\n\(r.out)")
        }
        #expect(r.out.split(separator: "\n").contains { $0.hasPrefix("cpu ") && $0.contains(" 192 ") })
    }

    @Test(.enabled(if: BenchCommandTests.hasOpenCL, "no OpenCL device"))
    func openCLReportsTheTransfer() throws {
        let r = try runMLD(["bench", "--model", Self.model, "--backend", "opencl", "--atoms", "1536",
                            "--steps", "2", "--repeats", "2", "--json"])
        #expect(r.status == 0, "\(r.err)")
        let obj = try #require(try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [String: Any])
        let results = try #require(obj["results"] as? [[String: Any]])
        #expect(results.count == 1)
        if let res = results.first {
            checkResult(res, backend: "opencl", atoms: 1536)
            #expect((res["transferSecondsPerStep"] as? Double).map { $0 > 0 } == true)
        }
    }

    @Test(arguments: [
        ["--atoms", "100"],
        ["--atoms", "192,abc"],
        ["--atoms", "192", "--steps", "0"],
        ["--atoms", "192", "--repeats", "0"],
        ["--atoms", "192", "--cp2k", "no/such/dir"],
    ])
    func badOptionsAreOneLineErrors(extra: [String]) throws {
        let r = try runMLD(["bench", "--model", Self.model] + extra)
        #expect(r.status == 1)
        #expect(r.err.split(separator: "\n").count == 1 && r.err.hasPrefix("mld: error: "), "\(r.err)")
    }

    @Test func missingModelIsAnError() throws {
        let r = try runMLD(["bench", "--model", "no/such/model.json", "--atoms", "192"])
        #expect(r.status == 1)
        #expect(r.err.hasPrefix("mld: error: ") && r.err.contains("no/such/model.json"), "\(r.err)")
    }
}
