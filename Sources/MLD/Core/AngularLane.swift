/// A vector of neighbours for `AngularLanes`: one lane per neighbour, with the elementary
/// functions the radial factors need. Two kinds exist:
/// - `SIMD4<Double>` (the CPU backend's double precision, its oracle): four neighbours a vector,
///   functions within a few ulp of the C library (`VectorMath`);
/// - `SIMD8<Float>` (`CPUPrecision.mixed`): eight neighbours a vector (a 256-bit register either
///   way), per-neighbour terms in single precision, as on the GPU; every sum over a vector's
///   lanes, and every sum that leaves `AngularLanes`, is taken in double.
protocol AngularLane: SIMD where Scalar: BinaryFloatingPoint {
    /// a b + c in every lane (fused where the build enables FMA, see `VectorMath.mulAdd`).
    static func mulAdd(_ a: Self, _ b: Self, _ c: Self) -> Self
    /// e^x in every lane, for the radial factors exp(-eta r²) (x <= 0).
    static func exp(_ x: Self) -> Self
    /// (cos x, sin x) for x in [0, pi] in every lane (the cosine cutoff).
    static func cosSinHalfTurn(_ x: Self) -> (cos: Self, sin: Self)
    /// The sum of the lanes, added in double.
    var laneSum: Double { get }
    /// One vector of neighbours from `count` (1 or more; those past the width are ignored)
    /// displacements (dx, dy, dz, r) in Å: the unit vector's components, r (Å), and a mask that
    /// is 1 for a neighbour with r < `cutoff` and 0 otherwise. Lanes past `count` are padding:
    /// u = 0, r = `cutoff`, mask 0.
    static func packed(_ d: UnsafePointer<SIMD4<Double>>, count: Int, cutoff: Double)
        -> (ux: Self, uy: Self, uz: Self, r: Self, mask: Self)
}

extension AngularLane {
    @inline(__always)
    static func mulAdd(_ a: Self, _ b: Self, _ c: Self) -> Self { VectorMath.mulAdd(a, b, c) }
}

extension SIMD4: AngularLane where Scalar == Double {
    @inline(__always)
    static func exp(_ x: Self) -> Self { VectorMath.exp(x) }
    @inline(__always)
    static func cosSinHalfTurn(_ x: Self) -> (cos: Self, sin: Self) { VectorMath.cosSinHalfTurn(x) }
    @inline(__always)
    var laneSum: Double { sum() }

    @inline(__always)
    static func packed(_ d: UnsafePointer<SIMD4<Double>>, count n: Int, cutoff: Double)
        -> (ux: Self, uy: Self, uz: Self, r: Self, mask: Self) {
        let pad = SIMD4<Double>(0, 0, 0, cutoff)
        let a = d[0], b = n > 1 ? d[1] : pad, c = n > 2 ? d[2] : pad, e = n > 3 ? d[3] : pad
        let r = SIMD4(a.w, b.w, c.w, e.w)
        let inverse = 1 / r
        return (SIMD4(a.x, b.x, c.x, e.x) * inverse, SIMD4(a.y, b.y, c.y, e.y) * inverse,
                SIMD4(a.z, b.z, c.z, e.z) * inverse, r,
                SIMD4<Double>.zero.replacing(with: 1, where: r .< SIMD4(repeating: cutoff)))
    }
}

extension SIMD8: AngularLane where Scalar == Float {
    @inline(__always)
    static func exp(_ x: Self) -> Self { VectorMath.exp(x) }
    @inline(__always)
    static func cosSinHalfTurn(_ x: Self) -> (cos: Self, sin: Self) { VectorMath.cosSinHalfTurn(x) }
    @inline(__always)
    var laneSum: Double {
        (SIMD4<Double>(lowHalf) + SIMD4<Double>(highHalf)).sum()
    }

    /// A full vector: the eight displacements rounded to single, transposed, and the unit
    /// vectors from one single-precision division; a partial one (the last of a species): two
    /// groups of four, each as `SIMD4<Double>.packed` (the unit vector and r in double), rounded
    /// to single.
    @inline(__always)
    static func packed(_ d: UnsafePointer<SIMD4<Double>>, count n: Int, cutoff: Double)
        -> (ux: Self, uy: Self, uz: Self, r: Self, mask: Self) {
        if n >= 8 {
            let p0 = SIMD4<Float>(d[0]), p1 = SIMD4<Float>(d[1]), p2 = SIMD4<Float>(d[2]), p3 = SIMD4<Float>(d[3])
            let p4 = SIMD4<Float>(d[4]), p5 = SIMD4<Float>(d[5]), p6 = SIMD4<Float>(d[6]), p7 = SIMD4<Float>(d[7])
            let r = Self(p0.w, p1.w, p2.w, p3.w, p4.w, p5.w, p6.w, p7.w)
            let inverse = 1 / r
            return (Self(p0.x, p1.x, p2.x, p3.x, p4.x, p5.x, p6.x, p7.x) * inverse,
                    Self(p0.y, p1.y, p2.y, p3.y, p4.y, p5.y, p6.y, p7.y) * inverse,
                    Self(p0.z, p1.z, p2.z, p3.z, p4.z, p5.z, p6.z, p7.z) * inverse, r,
                    Self.zero.replacing(with: 1, where: r .< Self(repeating: Float(cutoff))))
        }
        let lo = SIMD4<Double>.packed(d, count: n, cutoff: cutoff)
        let hi = n > 4 ? SIMD4<Double>.packed(d + 4, count: n &- 4, cutoff: cutoff)
                       : (ux: .zero, uy: .zero, uz: .zero, r: SIMD4(repeating: cutoff), mask: .zero)
        @inline(__always) func join(_ a: SIMD4<Double>, _ b: SIMD4<Double>) -> Self {
            Self(lowHalf: SIMD4<Float>(a), highHalf: SIMD4<Float>(b))
        }
        return (join(lo.ux, hi.ux), join(lo.uy, hi.uy), join(lo.uz, hi.uz), join(lo.r, hi.r), join(lo.mask, hi.mask))
    }
}
