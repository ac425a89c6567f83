import Foundation
import Testing

/// `mld run --resident` and `mld bench --backend opencl-resident` end to end: a run that resumes
/// where it stopped, the refusals in one line, and the bench's bytes and phases.
@Suite(.serialized, .enabled(if: cliOpenCLAvailable, "needs an OpenCL device (SKIPPED otherwise)"))
struct ResidentCommandTests {
    static func temporary(_ name: String) -> String {
        NSTemporaryDirectory() + "mld-resident-\(name)-\(getpid())-\(UInt32.random(in: 0..<UInt32.max))"
    }

    /// 40 steps at once and 20 + 20 with a resume write the same trajectory, byte for byte.
    @Test func residentRunResumesBitIdentically() throws {
        let a = Self.temporary("a"), b = Self.temporary("b")
        let common = ["run", "--model", RunCommandTests.model, "--start", RunCommandTests.data, "--every", "10",
                      "--backend", "opencl", "--resident", "--quiet"]
        let r1 = try runMLD(common + ["--steps", "40", "--out", a])
        #expect(r1.status == 0, "\(r1.err)")
        let r2 = try runMLD(common + ["--steps", "20", "--out", b])
        #expect(r2.status == 0, "\(r2.err)")
        let r3 = try runMLD(["run", "--resume", b, "--steps", "20", "--backend", "opencl", "--resident", "--quiet"])
        #expect(r3.status == 0, "\(r3.err)")
        let ta = try String(contentsOfFile: a + "/trajectory.xyz", encoding: .utf8)
        let tb = try String(contentsOfFile: b + "/trajectory.xyz", encoding: .utf8)
        #expect(ta == tb)
        let rec = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: a + "/run.json"))) as! [String: Any]
        #expect((rec["device"] as? String)?.hasSuffix(", resident steps") == true)
    }

    @Test func refusalsAreOneLine() throws {
        let out = Self.temporary("refused")
        let langevin = try runMLD(["run", "--model", RunCommandTests.model, "--start", RunCommandTests.data, "--steps", "10",
                                   "--backend", "opencl", "--resident", "--thermostat", "langevin", "--out", out])
        #expect(langevin.status != 0)
        #expect(langevin.err.hasPrefix("mld: error: --resident runs the nose-hoover, csvr and none thermostats"), "\(langevin.err)")
        #expect(langevin.err.split(separator: "\n").count == 1)
        #expect(!FileManager.default.fileExists(atPath: out + "/run.json"), "nothing is written before the refusal")
        let cpu = try runMLD(["run", "--model", RunCommandTests.model, "--start", RunCommandTests.data, "--steps", "10",
                              "--backend", "cpu", "--resident", "--out", out])
        #expect(cpu.status != 0)
        #expect(cpu.err.contains("--resident runs on an OpenCL device"), "\(cpu.err)")
    }

    @Test func benchReportsBytesAndPhases() throws {
        let r = try runMLD(["bench", "--model", RunCommandTests.model, "--backend", "opencl-resident", "--atoms", "1536",
                            "--steps", "5", "--repeats", "1", "--json"])
        #expect(r.status == 0, "\(r.err)")
        let obj = try #require(try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [String: Any])
        let res = try #require((obj["results"] as? [[String: Any]])?.first)
        #expect(res["backend"] as? String == "opencl-resident")
        let bytes = try #require(res["bytesPerStep"] as? Double)
        // Nose-Hoover per agent: 32 bytes per atom per step plus a few hundred; the host path moves 64 per atom.
        #expect(bytes > 0 && bytes < 40 * 1536)
        let phases = try #require(res["phaseSecondsPerStep"] as? [String: Double])
        for k in ["integrate", "forces", "wall"] { #expect((phases[k] ?? 0) > 0, "phase \(k) in \(phases)") }
        let text = try runMLD(["bench", "--model", RunCommandTests.model, "--backend", "opencl", "--atoms", "192",
                               "--steps", "3", "--repeats", "1"])
        #expect(text.status == 0, "\(text.err)")
        #expect(text.out.contains("per step: ") && text.out.contains("bytes/step host<->device"), "\(text.out)")
    }
}
