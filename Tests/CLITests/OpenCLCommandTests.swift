import Foundation
import Testing

/// Whether `mld devices` finds an OpenCL device (CLI tests cannot import the OpenCL module).
let cliOpenCLAvailable: Bool = {
    guard let r = try? runMLD(["devices", "--json"]), r.status == 0,
          let list = try? JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [Any] else { return false }
    if list.isEmpty {
        print("SKIPPED: no OpenCL platform or device on this machine: the mld --backend opencl CLI tests are skipped")
    }
    return !list.isEmpty
}()

/// `mld eval`, `mld run` and `mld bench` with `--backend opencl`, `--device` and `--precision`.
@Suite(.serialized, .enabled(if: cliOpenCLAvailable, "needs an OpenCL device (SKIPPED otherwise)"))
struct OpenCLCommandTests {
    static let data = RunCommandTests.data

    static func relRMSE(_ args: [String]) throws -> [Double] {
        let r = try runMLD(["eval", "--model", RunCommandTests.model, "--data", data, "--frames", "870..900", "--json"] + args)
        #expect(r.status == 0, "\(r.err)")
        let obj = try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as! [String: Any]
        return (obj["species"] as! [[String: Any]]).map { $0["relRMSE"] as! Double }
    }

    @Test func evalOnOpenCLEqualsCPU() throws {
        let cpu = try Self.relRMSE(["--backend", "cpu"])
        for extra in [["--backend", "opencl"], ["--backend", "opencl", "--precision", "double", "--device", "0"]] {
            let ocl = try Self.relRMSE(extra)
            #expect(ocl.count == cpu.count)
            for (a, b) in zip(ocl, cpu) { #expect(abs(a - b) < 1e-9, "\(extra): \(a) vs cpu \(b)") }
        }
        let text = try runMLD(["eval", "--model", RunCommandTests.model, "--data", Self.data, "--frames", "890..900",
                               "--backend", "opencl"])
        #expect(text.out.contains("backend   opencl on "))
    }

    @Test func runOnOpenCLWritesARun() throws {
        let out = NSTemporaryDirectory() + "mld-ocl-cli-\(getpid())-\(UInt32.random(in: 0..<UInt32.max))"
        let r = try runMLD(["run", "--model", RunCommandTests.model, "--start", Self.data, "--steps", "40", "--every", "10",
                            "--backend", "opencl", "--precision", "single", "--out", out, "--quiet"])
        #expect(r.status == 0, "\(r.err)")
        let rec = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/run.json"))) as! [String: Any]
        #expect(rec["backend"] as? String == "opencl")
        let thermo = try String(contentsOfFile: out + "/thermo.csv", encoding: .utf8)
        #expect(thermo.split(separator: "\n").count == 6)   // header, steps 0..40 every 10
    }

    @Test func badDeviceIsOneLine() throws {
        let r = try runMLD(["eval", "--model", RunCommandTests.model, "--data", Self.data, "--frames", "0..2",
                            "--backend", "opencl", "--device", "99"])
        #expect(r.status == 1)
        #expect(r.err.hasPrefix("mld: error: no OpenCL device 99"), "\(r.err)")
        #expect(r.err.split(separator: "\n").count == 1)
    }

    /// `auto` says what it chose: OpenCL on a GPU, else the CPU, with the reason.
    @Test func autoSaysWhichBackend() throws {
        let out = NSTemporaryDirectory() + "mld-ocl-cli-\(getpid())-\(UInt32.random(in: 0..<UInt32.max))"
        let r = try runMLD(["run", "--model", RunCommandTests.model, "--start", Self.data, "--steps", "10",
                            "--out", out])
        #expect(r.status == 0, "\(r.err)")
        #expect(r.err.contains("backend auto: cpu, because") || r.err.contains("backend auto: opencl on"), "\(r.err)")
    }

    @Test func benchOnOpenCL() throws {
        let r = try runMLD(["bench", "--model", RunCommandTests.model, "--backend", "opencl", "--atoms", "192",
                            "--steps", "5", "--repeats", "1", "--precision", "double", "--json"])
        #expect(r.status == 0, "\(r.err)")
        #expect(r.out.contains("opencl"))
    }
}

/// With no OpenCL platform (the ICD loader pointed at an empty vendors folder), `--backend
/// opencl` fails with one clear line and `auto` runs on the CPU and says why. Runs everywhere.
@Suite(.serialized) struct NoOpenCLPlatformTests {
    /// `runMLD` with OCL_ICD_VENDORS set for the child process only.
    static func runWithoutOpenCL(_ args: [String]) throws -> (status: Int32, out: String, err: String) {
        let empty = NSTemporaryDirectory() + "mld-no-vendors-\(getpid())"
        try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: true)
        return try runMLD(args, environment: ["OCL_ICD_VENDORS": empty])
    }

    @Test func openCLFailsCleanlyAndAutoFallsBack() throws {
        let out = NSTemporaryDirectory() + "mld-nocl-\(getpid())-\(UInt32.random(in: 0..<UInt32.max))"
        let bad = try Self.runWithoutOpenCL(["run", "--model", RunCommandTests.model, "--start", RunCommandTests.data,
                                             "--steps", "10", "--backend", "opencl", "--out", out + "-a"])
        #expect(bad.status == 1)
        #expect(bad.err == "mld: error: no OpenCL platform or device found (install an OpenCL driver, e.g. pocl-opencl-icd, or use --backend cpu)\n", "\(bad.err)")
        let auto = try Self.runWithoutOpenCL(["run", "--model", RunCommandTests.model, "--start", RunCommandTests.data,
                                              "--steps", "10", "--out", out + "-b"])
        #expect(auto.status == 0, "\(auto.err)")
        #expect(auto.err.contains("backend auto: cpu, because no OpenCL platform or device found"), "\(auto.err)")
    }
}
