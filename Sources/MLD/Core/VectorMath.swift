/// Elementary functions on four doubles at once (eight floats in the extension below), for the per-neighbour radial factors of the
/// angular sums (`AngularLanes`): polynomials with range reduction, within a few ulp of the C
/// library's `exp`, `cos` and `sin` on the ranges documented below, so that the force loops
/// vectorise instead of calling the library once per neighbour.
enum VectorMath {
    /// a b + c for every lane of a floating-point vector (`SIMD4<Double>`, `SIMD8<Float>`): one
    /// rounding where the build enables fused multiply-add (`-D MLD_FMA`, which the Makefile sets
    /// with a target CPU that has FMA), two otherwise (a build for a CPU without FMA would
    /// otherwise call the C library's `fma` per lane).
    @inline(__always)
    static func mulAdd<V: SIMD>(_ a: V, _ b: V, _ c: V) -> V where V.Scalar: FloatingPoint {
        #if MLD_FMA
        return c.addingProduct(a, b)
        #else
        return a * b + c
        #endif
    }

    /// a b + c with the scalar a in every lane (see `mulAdd(_:_:_:)`).
    @inline(__always)
    static func mulAdd(_ a: Double, _ b: SIMD4<Double>, _ c: SIMD4<Double>) -> SIMD4<Double> {
        mulAdd(SIMD4(repeating: a), b, c)
    }

    /// e^x for every lane; 0 below -708 (where e^x is subnormal or zero), +inf above 709.7, NaN
    /// for NaN.
    ///
    /// x = n ln 2 + f with |f| <= ln 2 / 2 (ln 2 split in two parts so f is exact to the last bits),
    /// e^f from its Taylor series to f^13 (truncation below 1e-17 relative), times 2^n built from
    /// the exponent bits.
    @inline(__always)
    static func exp(_ x: SIMD4<Double>) -> SIMD4<Double> {
        let log2e = 1.4426950408889634
        let ln2hi = 6.93147180369123816490e-01, ln2lo = 1.90821492927058770002e-10
        var xc = x
        xc.replace(with: -708, where: x .< -708)
        xc.replace(with: 709, where: x .> 709)
        // Adding 1.5 * 2^52 rounds to the nearest integer n (ties to even) and leaves n in the
        // low bits of the sum.
        let shifter = 6755399441055744.0
        var t = xc * log2e + shifter
        t.replace(with: shifter, where: .!(t .== t))   // NaN lanes: n = 0, the result is NaN below
        let n = t - shifter
        let f = (xc - n * ln2hi) - n * ln2lo
        // Horner on 1/k!, k = 13 ... 0.
        var p = SIMD4<Double>(repeating: 1.0 / 6227020800)
        p = mulAdd(p, f, SIMD4(repeating: 1.0 / 479001600))
        p = mulAdd(p, f, SIMD4(repeating: 1.0 / 39916800))
        p = mulAdd(p, f, SIMD4(repeating: 1.0 / 3628800))
        p = mulAdd(p, f, SIMD4(repeating: 1.0 / 362880))
        p = mulAdd(p, f, SIMD4(repeating: 1.0 / 40320))
        p = mulAdd(p, f, SIMD4(repeating: 1.0 / 5040))
        p = mulAdd(p, f, SIMD4(repeating: 1.0 / 720))
        p = mulAdd(p, f, SIMD4(repeating: 1.0 / 120))
        p = mulAdd(p, f, SIMD4(repeating: 1.0 / 24))
        p = mulAdd(p, f, SIMD4(repeating: 1.0 / 6))
        p = mulAdd(p, f, SIMD4(repeating: 0.5))
        p = mulAdd(p, f, SIMD4(repeating: 1))
        p = mulAdd(p, f, SIMD4(repeating: 1))
        let nBits = unsafeBitCast(t, to: SIMD4<Int64>.self) &- Int64(bitPattern: shifter.bitPattern)
        let bits = (nBits &+ 1023) &<< 52
        var r = p * unsafeBitCast(bits, to: SIMD4<Double>.self)
        r.replace(with: 0, where: x .< -708)
        r.replace(with: .infinity, where: x .> 709.7)
        r.replace(with: .nan, where: .!(x .== x))
        return r
    }

    /// (cos x, sin x) for x in [0, pi] in every lane (the argument of the cosine cutoff,
    /// pi r / r_c for r <= r_c): with y = x - pi/2 in [-pi/2, pi/2], cos x = -sin y and
    /// sin x = cos y from their Taylor series to y^21 and y^20 (truncation below 2e-17).
    @inline(__always)
    static func cosSinHalfTurn(_ x: SIMD4<Double>) -> (cos: SIMD4<Double>, sin: SIMD4<Double>) {
        let halfPiHi = 1.5707963267948966, halfPiLo = 6.123233995736766e-17
        let y = (x - halfPiHi) - halfPiLo
        let y2 = y * y
        // sin y = y (1 - y²/3! + y⁴/5! - ... - y²⁰/21!)
        var s = SIMD4<Double>(repeating: -1.0 / 51090942171709440000)
        s = mulAdd(s, y2, SIMD4(repeating: 1.0 / 121645100408832000))
        s = mulAdd(s, y2, SIMD4(repeating: -1.0 / 355687428096000))
        s = mulAdd(s, y2, SIMD4(repeating: 1.0 / 1307674368000))
        s = mulAdd(s, y2, SIMD4(repeating: -1.0 / 6227020800))
        s = mulAdd(s, y2, SIMD4(repeating: 1.0 / 39916800))
        s = mulAdd(s, y2, SIMD4(repeating: -1.0 / 362880))
        s = mulAdd(s, y2, SIMD4(repeating: 1.0 / 5040))
        s = mulAdd(s, y2, SIMD4(repeating: -1.0 / 120))
        s = mulAdd(s, y2, SIMD4(repeating: 1.0 / 6))
        s = mulAdd(s, y2, SIMD4(repeating: -1))
        let sinY = -(s * y)
        // cos y = 1 - y²/2! + y⁴/4! - ... + y²⁰/20!
        var c = SIMD4<Double>(repeating: 1.0 / 2432902008176640000)
        c = mulAdd(c, y2, SIMD4(repeating: -1.0 / 6402373705728000))
        c = mulAdd(c, y2, SIMD4(repeating: 1.0 / 20922789888000))
        c = mulAdd(c, y2, SIMD4(repeating: -1.0 / 87178291200))
        c = mulAdd(c, y2, SIMD4(repeating: 1.0 / 479001600))
        c = mulAdd(c, y2, SIMD4(repeating: -1.0 / 3628800))
        c = mulAdd(c, y2, SIMD4(repeating: 1.0 / 40320))
        c = mulAdd(c, y2, SIMD4(repeating: -1.0 / 720))
        c = mulAdd(c, y2, SIMD4(repeating: 1.0 / 24))
        c = mulAdd(c, y2, SIMD4(repeating: -0.5))
        c = mulAdd(c, y2, SIMD4(repeating: 1))
        return (-sinY, c)
    }
}

/// The same functions on eight floats, for the single-precision lanes of `CPUPrecision.mixed`:
/// polynomials accurate to about 1e-7 relative (a few float ulp) on the same ranges.
extension VectorMath {
    /// e^x for every lane; 0 below -87 (where e^x leaves the normal floats), +inf above 88.7.
    ///
    /// x = n ln 2 + f with |f| <= ln 2 / 2, e^f from its Taylor series to f^8 (truncation below
    /// 3e-10 relative), times 2^n built from the exponent bits.
    @inline(__always)
    static func exp(_ x: SIMD8<Float>) -> SIMD8<Float> {
        let log2e: Float = 1.44269504
        let ln2hi: Float = 0.693145751953125, ln2lo: Float = 1.428606765330187e-06
        var xc = x
        xc.replace(with: -87, where: x .< -87)
        xc.replace(with: 88, where: x .> 88)
        // Adding 1.5 * 2^23 rounds to the nearest integer n and leaves n in the low bits.
        let shifter: Float = 12582912
        let t = xc * log2e + shifter
        let n = t - shifter
        let f = (xc - n * ln2hi) - n * ln2lo
        // Horner on 1/k!, k = 8 ... 0 (written as the floats' decimal values).
        var p = SIMD8<Float>(repeating: 2.48015873e-05)
        p = mulAdd(p, f, SIMD8(repeating: 0.000198412698))
        p = mulAdd(p, f, SIMD8(repeating: 0.00138888889))
        p = mulAdd(p, f, SIMD8(repeating: 0.00833333333))
        p = mulAdd(p, f, SIMD8(repeating: 0.0416666667))
        p = mulAdd(p, f, SIMD8(repeating: 0.166666667))
        p = mulAdd(p, f, SIMD8(repeating: 0.5))
        p = mulAdd(p, f, SIMD8(repeating: 1))
        p = mulAdd(p, f, SIMD8(repeating: 1))
        let nBits = unsafeBitCast(t, to: SIMD8<Int32>.self) &- Int32(bitPattern: shifter.bitPattern)
        let bits = (nBits &+ 127) &<< 23
        var r = p * unsafeBitCast(bits, to: SIMD8<Float>.self)
        r.replace(with: 0, where: x .< -87)
        r.replace(with: .infinity, where: x .> 88.7)
        return r
    }

    /// (cos x, sin x) for x in [0, pi] in every lane: with y = x - pi/2, cos x = -sin y and
    /// sin x = cos y from their Taylor series to y^13 and y^14 (truncation below 1e-9).
    @inline(__always)
    static func cosSinHalfTurn(_ x: SIMD8<Float>) -> (cos: SIMD8<Float>, sin: SIMD8<Float>) {
        let halfPiHi: Float = 1.57079637, halfPiLo: Float = -4.37113883e-08
        let y = (x - halfPiHi) - halfPiLo
        let y2 = y * y
        // sin y = y (1 - y²/3! + ... + y¹²/13!): (-1)^k / (2k + 1)!, k = 6 ... 0
        var s = SIMD8<Float>(repeating: 1.60590438e-10)
        s = mulAdd(s, y2, SIMD8(repeating: -2.50521084e-08))
        s = mulAdd(s, y2, SIMD8(repeating: 2.75573192e-06))
        s = mulAdd(s, y2, SIMD8(repeating: -0.000198412698))
        s = mulAdd(s, y2, SIMD8(repeating: 0.00833333333))
        s = mulAdd(s, y2, SIMD8(repeating: -0.166666667))
        s = mulAdd(s, y2, SIMD8(repeating: 1))
        let sinY = s * y
        // cos y = 1 - y²/2! + ... - y¹⁴/14!: (-1)^k / (2k)!, k = 7 ... 0
        var c = SIMD8<Float>(repeating: -1.14707456e-11)
        c = mulAdd(c, y2, SIMD8(repeating: 2.0876757e-09))
        c = mulAdd(c, y2, SIMD8(repeating: -2.75573192e-07))
        c = mulAdd(c, y2, SIMD8(repeating: 2.48015873e-05))
        c = mulAdd(c, y2, SIMD8(repeating: -0.00138888889))
        c = mulAdd(c, y2, SIMD8(repeating: 0.0416666667))
        c = mulAdd(c, y2, SIMD8(repeating: -0.5))
        c = mulAdd(c, y2, SIMD8(repeating: 1))
        return (-sinY, c)
    }
}
