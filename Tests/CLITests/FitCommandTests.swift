import Foundation
import Testing

@Suite struct FitCommandTests {
    static let data = "Data/cp2k-water64-xtb-300K"

    static func tempDir() throws -> String {
        let dir = (NSTemporaryDirectory() as NSString).appendingPathComponent("mld-fitcli-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    /// fit writes a model and prints its measures; eval of the model on the test frames prints
    /// the same rel_RMSE.
    @Test func fitThenEval() throws {
        let dir = try Self.tempDir()
        let model = (dir as NSString).appendingPathComponent("model.json")
        let fit = try runMLD(["fit", "--data", Self.data, "--train", "0..120:4", "--test", "840..900:2",
                              "--nearest", "O:4,H:6", "--angles", "none", "--out", model, "--json"])
        #expect(fit.status == 0, "\(fit.err)")
        let obj = try JSONSerialization.jsonObject(with: Data(fit.out.utf8)) as! [String: Any]
        let test = obj["test"] as! [[String: Any]]
        #expect(test.map { $0["species"] as! String } == ["O", "H"])
        let sensitivity = obj["sensitivity"] as! [[String: Any]]
        #expect(sensitivity.count == 2 * (2 + 4 + 6))
        // The ranking the README states: an oxygen is governed by its hydrogens, a hydrogen by
        // its oxygens (the groups "all O" and "all H" are all distances to that species).
        func row(_ agent: String, _ group: String) -> [String: Any]? {
            sensitivity.first { $0["species"] as? String == agent && $0["group"] as? String == "all " + group }
        }
        for (agent, governing, other) in [("O", "H", "O"), ("H", "O", "H")] {
            let g = try #require(row(agent, governing)), o = try #require(row(agent, other))
            #expect((g["rise"] as! Double) > (o["rise"] as! Double) + 0.05, "agent \(agent): \(g) vs \(o)")
            #expect((g["meanForceShare"] as! Double) > (o["meanForceShare"] as! Double), "agent \(agent): \(g) vs \(o)")
        }
        #expect(FileManager.default.fileExists(atPath: model))

        let ev = try runMLD(["eval", "--model", model, "--data", Self.data, "--frames", "840..900:2", "--json"])
        #expect(ev.status == 0, "\(ev.err)")
        let eobj = try JSONSerialization.jsonObject(with: Data(ev.out.utf8)) as! [String: Any]
        let species = eobj["species"] as! [[String: Any]]
        for (a, b) in zip(test, species) {
            let x = a["relRMSE"] as! Double, y = b["relRMSE"] as! Double
            #expect(abs(x - y) < 1e-9, "fit \(x) vs eval \(y)")
            #expect(y > 0.1 && y < 0.7)
        }

        let text = try runMLD(["eval", "--model", model, "--data", Self.data, "--frames", "0..10"])
        #expect(text.status == 0)
        #expect(text.out.contains("rel_RMSE") && text.out.contains("out of range"))
        #expect(text.out.contains("double precision"), "\(text.out)")
        let mixed = try runMLD(["eval", "--model", model, "--data", Self.data, "--frames", "0..10", "--cpu-precision", "mixed"])
        #expect(mixed.status == 0, "\(mixed.err)")
        #expect(mixed.out.contains("mixed precision"), "\(mixed.out)")
    }

    @Test func fitTextOutputAndScan() throws {
        let dir = try Self.tempDir()
        let model = (dir as NSString).appendingPathComponent("m.json")
        let r = try runMLD(["fit", "--data", Self.data, "--train", "0..60:3", "--test", "870..900",
                            "--form", "diagonal", "--out", model])
        #expect(r.status == 0, "\(r.err)")
        for s in ["O train", "H test", "ridge", "chosen by validation", "sensitivity", "agent O:", "build", "solve"] {
            #expect(r.out.contains(s), "missing '\(s)' in:\n\(r.out)")
        }
        let scan = try runMLD(["fit", "--data", Self.data, "--train", "0..30:3", "--test", "870..900",
                               "--scan", "neighbours=1:2", "--angles", "none", "--ridge", "1e-8", "--out", model])
        #expect(scan.status == 0, "\(scan.err)")
        let csvPath = (dir as NSString).appendingPathComponent("m-scan-neighbours.csv")
        let csv = try String(contentsOfFile: csvPath, encoding: .utf8).split(separator: "\n")
        #expect(csv.first == "neighbours,train_rel_rmse_O,test_rel_rmse_O,train_rel_rmse_H,test_rel_rmse_H")
        #expect(csv.count == 3 && csv[1].hasPrefix("1,") && csv[2].hasPrefix("2,"))
    }

    /// Bad input: one clear line on standard error and a non-zero exit.
    @Test(arguments: [
        (["--train", "5..2"], "bad frame range '5..2'"),
        (["--test", "0..1000"], "end 1000 is beyond the data's 900 frames"),
        (["--nearest", "O:6,H:8,C:2"], "names species C, which is not in the data"),
        (["--nearest", "O:6"], "no count for species H"),
        (["--nearest", "O:64,H:8"], "at most 63 O neighbours"),
        (["--basis", "cubic:3", "--invariants", "radial"], "bad --basis 'cubic:3'"),
        (["--invariants", "radial", "--cutoff", "7"], "cutoff 7 Å is larger than half the shortest box edge"),
        (["--scan", "colour=1:3"], "unknown name 'colour'"),
        (["--angular-cutoff", "0"], "--angular-cutoff must be a positive number"),
        (["--angular-cutoff", "6.5"], "angular cutoff 6.5 Å is larger than half the shortest box edge"),
        (["--angular-zeta", "0.5"], "--angular-zeta must be in [1, 64]"),
        (["--angular-eta=-1"], "--angular-eta must be >= 0"),
        (["--angular-eta", "0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9", "--angular-zeta", "1,2,3,4"], "72 functions"),
        (["--labelled-angles", "H1-X"], "bad --labelled-angles 'H1-X'"),
        (["--labelled-angles", "H1-H9"], "H9 needs at least 9 nearest H"),
        (["--angles", "labelled", "--invariants", "radial"], "needs --invariants nearest"),
        (["--agents", "cooperative"], "cooperative"),
    ])
    func fitRefusesBadInput(extra: [String], message: String) throws {
        let r = try runMLD(["fit", "--data", Self.data, "--out", "/tmp/mld-never-written.json"] + extra)
        #expect(r.status != 0)
        #expect(r.err.contains(message), "stderr: \(r.err)")
        #expect(r.err.hasPrefix("mld: error: "), "stderr: \(r.err)")
        #expect(!FileManager.default.fileExists(atPath: "/tmp/mld-never-written.json"))
    }

    /// `--nearest` defaults to O:4,H:4 for selfish agents with the angular sums (the default
    /// model) and to the paper's O:6,H:8 otherwise; a given `--nearest` always wins.
    @Test(arguments: [
        ([String](), [4, 4]),
        (["--angles", "sums"], [4, 4]),
        (["--angles", "none"], [6, 8]),
        (["--angles", "labelled"], [6, 8]),
        (["--agents", "conservative", "--angles", "sums"], [6, 8]),
        (["--nearest", "O:5,H:7"], [5, 7]),
    ])
    func defaultNearestCounts(extra: [String], counts: [Int]) throws {
        let dir = try Self.tempDir()
        let model = (dir as NSString).appendingPathComponent("m.json")
        let r = try runMLD(["fit", "--data", Self.data, "--train", "0..30:6", "--test", "870..900:10", "--ridge", "1e-6",
                            "--out", model] + extra)
        #expect(r.status == 0, "\(r.err)")
        let obj = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: model))) as! [String: Any]
        let blocks = (obj["invariants"] as! [String: Any])["blocks"] as! [[String: Any]]
        #expect(blocks[0]["kind"] as? String == "nearest")
        #expect(blocks[0]["counts"] as? [Int] == counts, "\(extra): \(blocks[0])")
    }

    @Test func evalRefusesBadModels() throws {
        let dir = try Self.tempDir()
        let bad = (dir as NSString).appendingPathComponent("bad.json")
        try "{\"format\": \"mld-model\", \"version\": 99}".write(toFile: bad, atomically: true, encoding: .utf8)
        var r = try runMLD(["eval", "--model", bad, "--data", Self.data])
        #expect(r.status == 1)
        #expect(r.err == "mld: error: \(bad): unknown model file version 99 (this mld reads versions 1-2)\n")
        try "[1, 2".write(toFile: bad, atomically: true, encoding: .utf8)
        r = try runMLD(["eval", "--model", bad, "--data", Self.data])
        #expect(r.status == 1 && r.err.contains("not a JSON file"))
        r = try runMLD(["eval", "--model", (dir as NSString).appendingPathComponent("none.json"), "--data", Self.data])
        #expect(r.status == 1 && r.err.contains("no such file"))
        r = try runMLD(["eval", "--model", bad, "--data", Self.data, "--frames", "3..x"])
        #expect(r.status == 1 && r.err.contains("bad frame range '3..x'"))
        r = try runMLD(["fit", "--data", Self.data])
        #expect(r.status != 0 && r.err.contains("--out"))
    }
}
