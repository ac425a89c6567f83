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
        #expect(obj["format"] as? String == "mld-model" && obj["version"] as? Int == 1)
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
        var inv = o["invariants"] as! [String: Any]; inv["counts"] = [2]; o["invariants"] = inv
        try Self.expectRefused(o, "one count per species")
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
