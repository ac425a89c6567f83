import Foundation
import Testing
@testable import MLD

/// The training-range flags the CPU backend finds while it computes forces give the same
/// out-of-range fraction and the same offender as the host check they replace.
@Suite struct ExtrapolationFlagsTests {
    @Test func backendFlagsMatchTheHostCheck() throws {
        let model = DynamicsFixtures.fittedModel
        let run = DynamicsFixtures.water
        // A frame of the test block, heated so that some agents leave the training range.
        var c = run.frames[run.frames.count - 1]
        var rng = MLD.SplitMix64(seed: 5)
        for i in 0..<c.count {
            let j = SIMD3(DynamicsFixtures.uniform(&rng), DynamicsFixtures.uniform(&rng), DynamicsFixtures.uniform(&rng)) * 2 - 1
            c.positions[i] += 0.06 * j
        }
        let sp = try model.speciesIndices(elements: c.elements, species: c.species).map(Int.init)
        let backend = try CPUBackend(model: model, species: sp, box: c.box)
        var f: [SIMD3<Double>] = [], l: [Double]? = []
        try backend.computeForces(positions: c.positions, forces: &f, losses: &l)
        let known = try #require(backend.outsideTrainingRange)
        #expect(known.positions == c.positions)
        let host = try model.outsideTrainingRange(c)
        #expect(known.flags == host)
        #expect(host.contains(true), "the jittered frame should have agents outside the range")
        let fromFlags = try model.extrapolation(c, outside: known.flags)
        let reference = try model.extrapolation(c)
        #expect(fromFlags.fraction == reference.fraction)
        #expect(fromFlags.offender == reference.offender)
        // Forces alone (no losses) leave the flags of the last evaluation that had them.
        try backend.computeForces(positions: c.positions.map { $0 + SIMD3(0.01, 0, 0) }, forces: &f, losses: &l)
        var none: [Double]? = nil
        try backend.computeForces(positions: c.positions, forces: &f, losses: &none)
        #expect(backend.outsideTrainingRange?.positions != c.positions)
    }
}
