import Foundation
import Testing
@testable import MLD

/// The SIMD4 form of the loss gradient gives the same bits as the plain one.
@Suite struct QuadraticLossKernelTests {
    @Test(arguments: [1, 3, 4, 14, 27])
    func chunkedGradientEqualsThePlainOne(p: Int) {
        var rng = MLD.SplitMix64(seed: UInt64(p))
        func u() -> Double { Double(rng.next() >> 11) * 0x1p-53 * 2 - 1 }
        var W = [Double](repeating: 0, count: p * p)
        for a in 0..<p { for b in a..<p { W[a * p + b] = u(); W[b * p + a] = W[a * p + b] } }
        let w = (0..<p).map { _ in u() }, phi = (0..<p).map { _ in 3 * u() }
        let dphi = (0..<p).map { _ in SIMD3(u(), u(), u()) }
        let chunks = (p + 3) / 4
        var Wv = [SIMD4<Double>](repeating: .zero, count: p * chunks)
        for a in 0..<p { for b in 0..<p { Wv[a * chunks + b / 4][b % 4] = W[a * p + b] } }
        var g1 = [Double](repeating: 0, count: p), g2 = g1
        var gv = [SIMD4<Double>](repeating: .zero, count: chunks)
        let plain = QuadraticLoss.lossAndForce(count: p, phi: phi, dphi: dphi, g: &g1, Wp: W, wp: w)
        let chunked = QuadraticLoss.lossAndForce(count: p, chunks: chunks, phi: phi, dphi: dphi, g: &g2,
                                                 gv: &gv, Wv: Wv, wp: w)
        #expect(plain.force == chunked.force)
        #expect(plain.loss == chunked.loss)
        #expect(g1 == g2)
        // And both are the loss and force of the definition.
        let loss = QuadraticLoss(w: w, W: W)
        #expect(abs(loss.value(phi) - plain.loss) <= 1e-12 * max(1, abs(plain.loss)))
        let g = loss.gradient(phi)
        var f = SIMD3<Double>()
        for a in 0..<p { f -= g[a] * dphi[a] }
        #expect(((f - plain.force) * (f - plain.force)).sum().squareRoot() <= 1e-12 * max(1, (f * f).sum().squareRoot()))
    }
}
