import Foundation
import Testing
@testable import MLD

/// Learned dynamics of water with the model fitted on the bundled data (default split).
@Suite struct LearnedDynamicsTests {
    /// 2,000 steps (1 ps) from the last training frame with the default thermostat: finite,
    /// every O-H bond (each H to its nearest O) within 0.8-1.3 Å, mean temperature within 10 K of 300 K.
    @Test func waterStaysWaterFor2000Steps() throws {
        let model = DynamicsFixtures.fittedModel
        let run = DynamicsFixtures.water
        let last = try FrameRange.parse(model.fit!.trainFrames).indices(frameCount: run.frames.count).last!
        let c = run.frames[last]
        let sp = try model.speciesIndices(elements: c.elements, species: c.species).map(Int.init)
        let backend = try CPUBackend(model: model, species: sp, box: c.box)
        let sim = try Simulation(configuration: c, backend: backend, settings: SimulationSettings())
        var shortest = Double.infinity, longest = 0.0
        for step in 1...2000 {
            try sim.advance()
            if step % 10 == 0 {
                let b = sim.bondLengths()
                #expect(b.count == 128)
                shortest = min(shortest, b.min()!)
                longest = max(longest, b.max()!)
            }
        }
        #expect(sim.positions.allSatisfy { $0.x.isFinite && $0.y.isFinite && $0.z.isFinite })
        #expect(shortest > 0.8 && longest < 1.3, "O-H bonds \(shortest)...\(longest) Å")
        let T = sim.statistics.meanTemperature
        #expect(abs(T - 300) < 10, "mean temperature \(T) K")
        #expect(abs(sim.statistics.meanBond - 0.9673) < 0.01, "mean O-H \(sim.statistics.meanBond) Å")
    }
}
