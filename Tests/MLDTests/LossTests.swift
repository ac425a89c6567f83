import Foundation
import Testing
@testable import MLD

@Suite struct LossTests {
    /// F_k = -dH(phi_k)/dq_k against central differences of the agent's own loss, for every
    /// family and form (only the agent's own coordinates move).
    @Test(arguments: [LossForm.full, .diagonal, .linear])
    func forceIsMinusTheGradientOfTheAgentsLoss(form: LossForm) throws {
        let edge = 9.0
        let sys = InvariantFixtures.randomSystem(n: 36, edge: edge, seed: 17)
        for (name, spec) in InvariantFixtures.specs(edge: edge) {
            let model = InvariantFixtures.randomModel(spec, seed: 5, form: form)
            let c = Configuration(elements: [.oxygen, .hydrogen], species: sys.species.map(Int.init), positions: sys.positions, box: sys.box)
            let ref = try model.evaluate(c)
            let h = 1e-6
            for k in 0..<c.count {
                for comp in 0..<3 {
                    var p = c, m = c
                    p.positions[k][comp] += h; m.positions[k][comp] -= h
                    let fd = -(try model.evaluate(p).losses[k] - model.evaluate(m).losses[k]) / (2 * h)
                    #expect(abs(fd - ref.forces[k][comp]) < 1e-6 * max(1, abs(fd)),
                            "\(name) \(form): agent \(k) component \(comp): \(ref.forces[k][comp]) vs FD \(fd)")
                }
            }
        }
    }

    @Test func quadraticLossValueAndGradient() {
        let loss = QuadraticLoss(w: [1, -2], W: [2, 0.5, 0.5, -1])
        let phi = [0.3, 1.7]
        // H = w.phi + 1/2 phi W phi.
        let h = 0.3 - 3.4 + 0.5 * (2 * 0.09 + 2 * 0.5 * 0.3 * 1.7 - 1.7 * 1.7)
        #expect(abs(loss.value(phi) - h) < 1e-14)
        let g = loss.gradient(phi)
        #expect(abs(g[0] - (1 + 2 * 0.3 + 0.5 * 1.7)) < 1e-14)
        #expect(abs(g[1] - (-2 + 0.5 * 0.3 - 1.7)) < 1e-14)
        #expect(LossForm.full.parameterCount(14) == 119)
        #expect(LossForm.diagonal.parameterCount(14) == 28)
        #expect(LossForm.linear.parameterCount(14) == 14)
    }
}
