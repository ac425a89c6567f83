import Foundation
import Testing
@testable import MLD

@Suite struct ModelFileTests {
    static func goodModel() -> LearnedModel {
        InvariantFixtures.randomModel(.nearest(species: ["O", "H"], counts: [2, 3], searchRadius: 5), seed: 3)
    }

    static func json(_ m: LearnedModel) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: try m.jsonData()) as! [String: Any]
    }

    /// Decoding `obj` fails with one line containing `needle`.
    static func expectRefused(_ obj: Any, _ needle: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let data = try JSONSerialization.data(withJSONObject: obj)
        do {
            _ = try LearnedModel.decode(data, file: "m.json")
            Issue.record("accepted a bad model (\(needle))", sourceLocation: sourceLocation)
        } catch let e as MLDError {
            #expect(e.description.hasPrefix("m.json: "), sourceLocation: sourceLocation)
            #expect(e.description.contains(needle), "\(e.description)", sourceLocation: sourceLocation)
            #expect(!e.description.contains("\n"), sourceLocation: sourceLocation)
        }
    }

    @Test func roundTrip() throws {
        let m = Self.goodModel()
        let back = try LearnedModel.decode(try m.jsonData(), file: "m.json")
        #expect(back.losses == m.losses && back.invariants == m.invariants && back.species == m.species)
        let obj = try Self.json(m)
        #expect(obj["format"] as? String == "mld-model" && obj["version"] as? Int == 2)
    }

    @Test func refusesBadFiles() throws {
        do {
            _ = try LearnedModel.decode(Data("{ not json".utf8), file: "m.json")
            Issue.record("accepted malformed JSON")
        } catch let e as MLDError { #expect(e.description.contains("not a JSON file")) }
        var o = try Self.json(Self.goodModel())
        o["version"] = 7
        try Self.expectRefused(o, "unknown model file version 7")
        o = try Self.json(Self.goodModel()); o["format"] = "other"
        try Self.expectRefused(o, "not an mld model file")
        o = try Self.json(Self.goodModel()); o.removeValue(forKey: "losses")
        try Self.expectRefused(o, "missing \"losses\"")
        o = try Self.json(Self.goodModel()); o["form"] = "cubic"
        try Self.expectRefused(o, "form")
        o = try Self.json(Self.goodModel())
        var losses = o["losses"] as! [[String: Any]]
        var W = losses[0]["W"] as! [Double]; W[1] += 1
        losses[0]["W"] = W; o["losses"] = losses
        try Self.expectRefused(o, "not symmetric")
        o = try Self.json(Self.goodModel())
        losses = o["losses"] as! [[String: Any]]
        losses[1]["w"] = [1.0, 2.0]; o["losses"] = losses
        try Self.expectRefused(o, "must have 5")
        o = try Self.json(Self.goodModel())
        var inv = o["invariants"] as! [String: Any]
        var blocks = inv["blocks"] as! [[String: Any]]
        blocks[0]["counts"] = [2]; inv["blocks"] = blocks; o["invariants"] = inv
        try Self.expectRefused(o, "blocks[0] (nearest).counts: one count per species")
    }

    /// Blocks of the version 2 file: angular models round-trip; unknown kinds, angles naming
    /// absent neighbours, missing fields and parameter counts that do not match are refused.
    @Test func angularBlocks() throws {
        let spec = InvariantSpec.nearest(species: ["O", "H"], counts: [2, 3], searchRadius: 5)
            .adding(.labelledAngles(.water))
            .adding(.angularSums(.grid(cutoff: 4, etas: [0.2], zetas: [1, 4])))
        #expect(spec.count == 5 + 3 + 12)
        let m = InvariantFixtures.randomModel(spec, seed: 4)
        let back = try LearnedModel.decode(try m.jsonData(), file: "m.json")
        #expect(back.invariants == spec && back.losses == m.losses)
        #expect(back.invariants.summary.contains("labelled angles H1-H2,O1-O2,O1-H1"))

        func mutate(_ f: (inout [[String: Any]]) -> Void) throws -> [String: Any] {
            var o = try Self.json(m)
            var inv = o["invariants"] as! [String: Any]
            var blocks = inv["blocks"] as! [[String: Any]]
            f(&blocks)
            inv["blocks"] = blocks; o["invariants"] = inv
            return o
        }
        try Self.expectRefused(try mutate { $0[2]["kind"] = "spherical-harmonics" }, "unknown invariant block kind 'spherical-harmonics'")
        try Self.expectRefused(try mutate { $0[1]["angles"] = ["H1-H4"] }, "H4 needs at least 4 nearest H")
        try Self.expectRefused(try mutate { $0[1]["angles"] = ["H1+H2"] }, "angles")
        try Self.expectRefused(try mutate { $0[2].removeValue(forKey: "cutoff") }, "missing \"cutoff\"")
        try Self.expectRefused(try mutate { $0[2]["functions"] = [["eta": 0.2, "lambda": 1, "zeta": 0.5]] }, "zeta must be in [1, 64]")
        try Self.expectRefused(try mutate { $0[2]["cutoff"] = -1 }, "cutoff must be positive")
        try Self.expectRefused(try mutate { $0.swapAt(0, 1) }, "the first block must be nearest or radial")
        // One function fewer: the losses no longer have the parameters the blocks need.
        try Self.expectRefused(try mutate { b in
            var f = b[2]["functions"] as! [Any]; f.removeLast(); b[2]["functions"] = f
        }, "must have 17")
    }

    /// A version 1 model file (one distance family at the top level of "invariants") still loads.
    @Test func versionOneStillLoads() throws {
        let m = Self.goodModel()
        var o = try Self.json(m)
        o["version"] = 1
        o["invariants"] = ["family": "nearest", "species": ["O", "H"], "counts": [2, 3],
                           "transform": "distance", "searchRadius": 5.0] as [String: Any]
        let back = try LearnedModel.decode(try JSONSerialization.data(withJSONObject: o), file: "m.json")
        #expect(back.invariants == m.invariants)
        #expect(back.losses == m.losses)
        o["invariants"] = ["family": "radial", "species": ["O", "H"], "cutoff": 4.0] as [String: Any]
        try Self.expectRefused(o, "missing \"basis\"")
    }

    @Test func refusesOtherSpeciesAndTooLargeRange() throws {
        let m = Self.goodModel()
        #expect(throws: MLDError.model(file: "m.json", problem: "model species O,H do not match the data's species O,C")) {
            try m.check(elements: [.oxygen, Element(symbol: "C")!], box: Box(cubic: 20), file: "m.json")
        }
        do {
            try m.check(elements: [.oxygen, .hydrogen], box: Box(cubic: 9), file: "m.json")
            Issue.record("accepted a search radius larger than half the box")
        } catch let e as MLDError {
            #expect(e.description.contains("search radius 5 Å is larger than half the shortest box edge"), "\(e)")
        }
        try m.check(elements: [.hydrogen, .oxygen], box: Box(cubic: 10), file: "m.json")
        #expect(throws: MLDError.self) { _ = try LearnedModel.load("/nonexistent/model.json") }
    }
}
