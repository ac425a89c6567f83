import Foundation
import Testing
@testable import MLD

/// The identity ranks of a distance-ordered neighbour list (`NeighbourList.identityRanks`), and
/// the gather that orders its neighbours by them instead of sorting each evaluation.
@Suite struct IdentityRankTests {
    /// Every (atom, species) segment's ranks are a permutation of 0..<length that orders the
    /// segment by rank key: the caller's keys where given, else the index; none for a list
    /// ordered by index.
    @Test func ranksOrderEverySegmentByItsKeys() {
        let c = DynamicsFixtures.randomConfiguration(n: 2000, box: Box(cubic: 26), seed: 5)
        let sp = c.species.map(Int32.init)
        var rng = SplitMix64(seed: 77)
        var keys = (0..<c.count).map(Int32.init)
        for i in stride(from: keys.count - 1, to: 0, by: -1) { keys.swapAt(i, Int(rng.next() % UInt64(i + 1))) }
        for (threads, rankKeys) in [(1, keys), (2, keys), (2, nil)] as [(Int, [Int32]?)] {
            var list = NeighbourList(radius: 3.4, skin: 1.0, speciesCount: 2, threads: threads, orderByDistance: true)
            list.build(c.positions, box: c.box, species: sp, rankKeys: rankKeys)
            #expect(list.identityRanks.count == list.indices.count)
            var longest = 0
            for r in 0..<(c.count * 2) {
                let lo = list.offsets[r], hi = list.offsets[r + 1]
                longest = max(longest, hi - lo)
                let ranks = list.identityRanks[lo..<hi].map(Int.init)
                #expect(ranks.sorted() == Array(0..<(hi - lo)), "segment \(r)")
                let key = list.indices[lo..<hi].map { rankKeys?[Int($0)] ?? $0 }
                let byKey = (0..<(hi - lo)).sorted { key[$0] < key[$1] }
                #expect(byKey.map { ranks[$0] } == Array(0..<(hi - lo)), "segment \(r)")
            }
            #expect(longest > 16)
        }
        var plain = NeighbourList(radius: 3.4, skin: 1.0, speciesCount: 2, threads: 2)
        plain.build(c.positions, box: c.box, species: sp, rankKeys: keys)
        #expect(plain.identityRanks.isEmpty)
    }

    /// The default model's invariants from distance-ordered rows: the gather that places the
    /// neighbours by the rows' identity ranks gives the same bits as the one that sorts them,
    /// in both arithmetics of the angular sums, on CP2K frames.
    @Test func rankedGatherGivesTheSameBits() throws {
        let model = MixedPrecisionTests.defaultModel
        let spec = model.invariants
        for k in [0, 899] {
            let c = DynamicsFixtures.water.frames[k]
            let sp = try model.speciesIndices(elements: c.elements, species: c.species)
            var list = NeighbourList(radius: spec.range, skin: 0.5, speciesCount: 2, orderByDistance: true)
            list.build(c.positions, box: c.box, species: sp)
            // coefficients for the deferred own gradient of the angular sums
            let coefficients = (0..<spec.count).map { 0.1 + 0.01 * Double($0) }
            for (single, deferred) in [(false, false), (false, true), (true, true)] {
                let sorted = InvariantEvaluator(spec: spec), ranked = InvariantEvaluator(spec: spec)
                for e in [sorted, ranked] {
                    e.singlePrecisionLanes = single
                    e.defersAngularGradients = deferred
                }
                var starts = [Int](repeating: 0, count: 3)
                try c.positions.withUnsafeBufferPointer { pos in
                    try sp.withUnsafeBufferPointer { spc in
                        try list.indices.withUnsafeBufferPointer { idx in
                            try list.buildDistances.withUnsafeBufferPointer { dist in
                                try list.identityRanks.withUnsafeBufferPointer { rk in
                                    for i in 0..<c.count {
                                        let first = list.offsets[i * 2]
                                        for s in 0...2 { starts[s] = list.offsets[i * 2 + s] - first }
                                        let row = UnsafeBufferPointer(rebasing: idx[first..<list.offsets[i * 2 + 2]])
                                        for (e, ranks) in [(sorted, nil), (ranked, rk.baseAddress! + first)] as [(InvariantEvaluator, UnsafePointer<UInt16>?)] {
                                            let needed = try e.evaluate(agent: i, positions: pos, species: spc, box: c.box,
                                                                        candidates: row, speciesStarts: starts,
                                                                        buildDistances: dist.baseAddress! + first, skin: 0,
                                                                        listRadius: list.radius, identityRanks: ranks)
                                            #expect(needed == 0)
                                        }
                                        #expect(Array(sorted.phi) == Array(ranked.phi), "frame \(k) agent \(i)")
                                        #expect(Array(sorted.gradient) == Array(ranked.gradient), "frame \(k) agent \(i)")
                                        #expect(sorted.angularGradientsDeferred == deferred)
                                        if deferred {
                                            #expect(sorted.angularOwnGradient(coefficients) == ranked.angularOwnGradient(coefficients))
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
