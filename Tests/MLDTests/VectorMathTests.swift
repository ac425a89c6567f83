import Foundation
import Testing
@testable import MLD

/// The four-lane polynomials of `VectorMath` against the C library, on the ranges the angular
/// sums use them (exp of -eta r², the cosine cutoff's cos and sin on [0, pi]) and beyond.
@Suite struct VectorMathTests {
    @Test func expMatchesTheLibraryWithinTwoUlp() {
        var worst = 0.0
        var x = -700.0
        while x < 700 {
            let v = SIMD4(x, x + 0.123456789, -x * 1e-3, x * 1e-9)
            let e = VectorMath.exp(v)
            for i in 0..<4 {
                let ref = Foundation.exp(v[i])
                worst = max(worst, abs(e[i] - ref) / ref.ulp)
            }
            x += 0.7391
        }
        #expect(worst <= 2, "worst difference \(worst) ulp")
    }

    @Test func expEdgeCases() {
        let e = VectorMath.exp(SIMD4(-800, 0, 800, .nan))
        #expect(e[0] == 0 && e[1] == 1 && e[2] == .infinity && e[3].isNaN)
        let f = VectorMath.exp(SIMD4(-.infinity, .infinity, -708.5, 1))
        #expect(f[0] == 0 && f[1] == .infinity && f[2] == 0)
        #expect(abs(f[3] - M_E) <= M_E.ulp)
    }

    @Test func cosineAndSineOnTheHalfTurn() {
        var worst = 0.0
        for i in 0...4000 {
            let x = Double.pi * Double(i) / 4000
            let v = SIMD4(x, x * 0.5, x * 0.999, Double.pi - x * 1e-6)
            let (c, s) = VectorMath.cosSinHalfTurn(v)
            for l in 0..<4 {
                worst = max(worst, abs(c[l] - Foundation.cos(v[l])), abs(s[l] - Foundation.sin(v[l])))
            }
        }
        #expect(worst < 4e-16, "worst absolute difference \(worst)")
    }
}
