/// Tables and scratch memory for evaluating `AngularSums` through moment tensors, in O(n) of the
/// n neighbours within the cutoff instead of O(n^2) pairs.
///
/// With an integer zeta, `(1 + lambda cos theta)^zeta = sum_{m=0}^{zeta} C(zeta, m) lambda^m cos^m`,
/// and for unit vectors `(u_j . u_l)^m = sum_alpha w_alpha u_j^alpha u_l^alpha` over the monomials
/// alpha = (a, b, c), a + b + c = m, with the multinomial weight `w_alpha = m! / (a! b! c!)`. The
/// radial factor `R(r) = exp(-eta r^2) f_c(r)` splits over j and l, so the pair sum of
/// `AngularSums` over j of species B and l of species C becomes
/// `P_m(B, C) = sum_alpha w_alpha M_B[alpha] M_C[alpha]`, with the moments
/// `M_s[alpha] = sum_{j of s} R(r_kj) u_kj^alpha` (dimensionless); for B = C, where each unordered
/// pair counts once and j = l is excluded, `P_m = (sum_alpha w_alpha M_B[alpha]^2 - sum_j R_j^2) / 2`
/// (u_j . u_j = 1). The sums are mathematically those of the pair loop; they differ by rounding.
///
/// Used for every angular-sums block whose zetas are all integers in 1...`maximumRank`.
final class AngularMoments {
    /// Highest monomial rank handled (120 monomials up to rank 7; per-rank values fit a SIMD8).
    static let maximumRank = 7

    /// The highest zeta of the block: monomials of rank 0...rank are needed.
    let rank: Int
    /// Number of monomials of rank 0...rank.
    let monomialCount: Int
    /// `monomialCount` rounded up to a multiple of 4: the stride of per-neighbour monomials, zero
    /// past `monomialCount`, so that contractions run four monomials at a time.
    let monomialStride: Int
    /// Exponents (a, b, c) of monomial k: u_x^a u_y^b u_z^c.
    let exponentA: UnsafeMutablePointer<Int>
    let exponentB: UnsafeMutablePointer<Int>
    let exponentC: UnsafeMutablePointer<Int>
    /// Multinomial weight of monomial k (the same memory as `weightBlocks`).
    let weight: UnsafeMutablePointer<Double>
    /// Monomials of rank m are k in rankStart[m]..<rankStart[m + 1].
    let rankStart: UnsafeMutablePointer<Int>
    /// The distinct etas (1/Å²) of the block's functions, and the index of each function's eta.
    let etaCount: Int
    let etas: UnsafeMutablePointer<Double>
    let etaOfFunction: UnsafeMutablePointer<Int>
    /// C(zeta_f, m) lambda_f^m per function as a vector over m (lanes past zeta_f are 0).
    let coefficientVector: UnsafeMutablePointer<SIMD8<Double>>
    /// The transpose of `coefficientVector`'s ranks 0...3 for the functions four at a time: group g's rank m at
    /// 4 g + m holds C(zeta_f, m) lambda_f^m for its four functions f = 4 g ... 4 g + 3 (zero past
    /// the last function), and `groupSums[g]` their (1 + lambda_f)^zeta_f.
    let rankColumns: UnsafeMutablePointer<SIMD4<Double>>
    let groupSums: UnsafeMutablePointer<SIMD4<Double>>
    /// (1 + lambda_f)^zeta_f: the value of function f for a neighbour paired with itself.
    let coefficientSum: UnsafeMutablePointer<Double>
    /// Per function f, `monomialStride / 4` SIMD4 at f * monomialStride / 4: T_f[alpha] =
    /// C(zeta_f, m) lambda_f^m w_alpha for monomial alpha of rank m (zero past `monomialCount`), so
    /// that function f's pair sum is sum_alpha T_f[alpha] M_B[alpha] M_C[alpha], four monomials
    /// at a time.
    let functionWeights: UnsafeMutablePointer<SIMD4<Double>>
    /// The multinomial weights w_alpha four at a time (`monomialStride / 4` SIMD4, zero past
    /// `monomialCount`).
    let weightBlocks: UnsafeMutablePointer<SIMD4<Double>>
    let speciesCount: Int
    let pairCount: Int
    /// Number of functions of the block (per species pair).
    let functionCount: Int
    /// (0, 1, 2, ..., 7): the rank of each lane.
    let rankVector = SIMD8<Double>(0, 1, 2, 3, 4, 5, 6, 7)

    // scratch, overwritten by every evaluation
    /// M_s[alpha] for eta e and species s at (e * S + s) * monomialStride + k (entries past
    /// `monomialCount` stay zero).
    let moments: UnsafeMutablePointer<Double>
    /// The same memory as SIMD4, four monomials each ((e * S + s) * monomialStride / 4 + i).
    let momentBlocks: UnsafeMutablePointer<SIMD4<Double>>
    /// sum_{j of s} R_j^2 at e * S + s.
    let diagonal: UnsafeMutablePointer<Double>
    /// M_B[alpha] M_C[alpha] of one species pair, `monomialStride / 4` SIMD4.
    let pairProduct: UnsafeMutablePointer<SIMD4<Double>>
    /// w_alpha M_t[alpha] (the partner's weighted moments).
    let weighted: UnsafeMutablePointer<Double>
    /// For monomial beta of rank < rank: (beta_x + 1) w M_t[beta + e_x], and likewise for y and z,
    /// so that grad_u sum_alpha w_alpha M_t[alpha] u^alpha over rank m is a contraction with the
    /// monomials of rank m - 1.
    let shiftedX: UnsafeMutablePointer<Double>
    let shiftedY: UnsafeMutablePointer<Double>
    let shiftedZ: UnsafeMutablePointer<Double>
    /// Index of monomial beta + e_x (beta + e_y, beta + e_z) for beta of rank < rank.
    let plusX: UnsafeMutablePointer<Int>
    let plusY: UnsafeMutablePointer<Int>
    let plusZ: UnsafeMutablePointer<Int>

    /// nil when some zeta is not an integer in 1...`maximumRank`.
    init?(sums: AngularSums, speciesCount S: Int) {
        var rank = 0
        for f in sums.functions {
            guard f.zeta == f.zeta.rounded(), f.zeta >= 1, f.zeta <= Double(Self.maximumRank) else { return nil }
            rank = max(rank, Int(f.zeta))
        }
        guard rank >= 1 else { return nil }
        self.rank = rank
        speciesCount = S
        pairCount = S * (S + 1) / 2

        var a: [Int] = [], b: [Int] = [], c: [Int] = [], w: [Double] = [], starts: [Int] = []
        func factorial(_ n: Int) -> Double { n < 2 ? 1 : (2...n).reduce(1.0) { $0 * Double($1) } }
        for m in 0...rank {
            starts.append(a.count)
            for i in stride(from: m, through: 0, by: -1) {
                for j in stride(from: m - i, through: 0, by: -1) {
                    let k = m - i - j
                    a.append(i); b.append(j); c.append(k)
                    w.append(factorial(m) / (factorial(i) * factorial(j) * factorial(k)))
                }
            }
        }
        starts.append(a.count)
        monomialCount = a.count
        monomialStride = (a.count + 3) / 4 * 4
        exponentA = .allocate(capacity: a.count); exponentA.initialize(from: a, count: a.count)
        exponentB = .allocate(capacity: b.count); exponentB.initialize(from: b, count: b.count)
        exponentC = .allocate(capacity: c.count); exponentC.initialize(from: c, count: c.count)
        weightBlocks = .allocate(capacity: monomialStride / 4)
        weightBlocks.initialize(repeating: .zero, count: monomialStride / 4)
        weight = UnsafeMutableRawPointer(weightBlocks).assumingMemoryBound(to: Double.self)
        weight.update(from: w, count: w.count)
        rankStart = .allocate(capacity: starts.count); rankStart.initialize(from: starts, count: starts.count)
        func index(_ x: Int, _ y: Int, _ z: Int) -> Int {
            (starts[x + y + z]..<starts[x + y + z + 1]).first { a[$0] == x && b[$0] == y && c[$0] == z }!
        }
        plusX = .allocate(capacity: a.count); plusY = .allocate(capacity: a.count); plusZ = .allocate(capacity: a.count)
        for k in 0..<a.count {
            let low = a[k] + b[k] + c[k] < rank
            plusX[k] = low ? index(a[k] + 1, b[k], c[k]) : 0
            plusY[k] = low ? index(a[k], b[k] + 1, c[k]) : 0
            plusZ[k] = low ? index(a[k], b[k], c[k] + 1) : 0
        }

        var distinct: [Double] = []
        var of: [Int] = []
        for f in sums.functions {
            if let i = distinct.firstIndex(of: f.eta) { of.append(i) } else { of.append(distinct.count); distinct.append(f.eta) }
        }
        etaCount = distinct.count
        etas = .allocate(capacity: max(distinct.count, 1)); etas.initialize(from: distinct, count: distinct.count)
        etaOfFunction = .allocate(capacity: max(of.count, 1)); etaOfFunction.initialize(from: of, count: of.count)

        let nf = sums.functions.count
        functionCount = nf
        // C(zeta_f, m) lambda_f^m at f * (rank + 1) + m (0 for m > zeta_f)
        var coefficient = [Double](repeating: 0, count: max(nf * (rank + 1), 1))
        coefficientSum = .allocate(capacity: max(nf, 1))
        for (fi, f) in sums.functions.enumerated() {
            let z = Int(f.zeta)
            var binomial = 1.0, lambdaPower = 1.0, total = 0.0
            for m in 0...z {
                coefficient[fi * (rank + 1) + m] = binomial * lambdaPower
                total += binomial * lambdaPower
                binomial = binomial * Double(z - m) / Double(m + 1)
                lambdaPower *= f.lambda
            }
            coefficientSum[fi] = total
        }
        coefficientVector = .allocate(capacity: max(nf, 1))
        for fi in 0..<nf {
            var v = SIMD8<Double>(repeating: 0)
            for m in 0...rank { v[m] = coefficient[fi * (rank + 1) + m] }
            coefficientVector[fi] = v
        }
        let groups = (nf + 3) / 4
        rankColumns = .allocate(capacity: max(4 * groups, 1))
        rankColumns.initialize(repeating: .zero, count: max(4 * groups, 1))
        groupSums = .allocate(capacity: max(groups, 1))
        groupSums.initialize(repeating: .zero, count: max(groups, 1))
        for fi in 0..<nf {
            for m in 0..<min(rank + 1, 4) { rankColumns[4 * (fi / 4) + m][fi % 4] = coefficient[fi * (rank + 1) + m] }
            groupSums[fi / 4][fi % 4] = coefficientSum[fi]
        }

        let blocks = monomialStride / 4
        functionWeights = .allocate(capacity: max(nf * blocks, 1))
        functionWeights.initialize(repeating: .zero, count: max(nf * blocks, 1))
        let T = UnsafeMutableRawPointer(functionWeights).assumingMemoryBound(to: Double.self)
        for fi in 0..<nf {
            for k in 0..<a.count {
                T[fi * monomialStride + k] = coefficient[fi * (rank + 1) + a[k] + b[k] + c[k]] * w[k]
            }
        }

        let E = max(etaCount, 1)
        momentBlocks = .allocate(capacity: E * S * blocks)
        momentBlocks.initialize(repeating: .zero, count: E * S * blocks)
        moments = UnsafeMutableRawPointer(momentBlocks).assumingMemoryBound(to: Double.self)
        diagonal = .allocate(capacity: E * S)
        pairProduct = .allocate(capacity: blocks)
        weighted = .allocate(capacity: monomialCount)
        shiftedX = .allocate(capacity: monomialCount)
        shiftedY = .allocate(capacity: monomialCount)
        shiftedZ = .allocate(capacity: monomialCount)
    }

    deinit {
        exponentA.deallocate(); exponentB.deallocate(); exponentC.deallocate()
        rankStart.deallocate(); etas.deallocate(); etaOfFunction.deallocate()
        coefficientSum.deallocate(); coefficientVector.deallocate()
        rankColumns.deallocate(); groupSums.deallocate()
        functionWeights.deallocate(); weightBlocks.deallocate(); momentBlocks.deallocate(); diagonal.deallocate(); pairProduct.deallocate()
        weighted.deallocate()
        shiftedX.deallocate(); shiftedY.deallocate(); shiftedZ.deallocate()
        plusX.deallocate(); plusY.deallocate(); plusZ.deallocate()
    }

    /// Rank 3's twenty monomials lie in five SIMD4 with the ranks (0, 1, 1, 1), (2, 2, 2, 2),
    /// (2, 2, 3, 3), (3, 3, 3, 3), (3, 3, 3, 3): the sum of each rank's values, as
    /// (rank 0, rank 1, rank 2, rank 3).
    @inline(__always)
    static func rankSums3(_ p0: SIMD4<Double>, _ p1: SIMD4<Double>, _ p2: SIMD4<Double>,
                          _ p3: SIMD4<Double>, _ p4: SIMD4<Double>) -> SIMD4<Double> {
        let high = p3 + p4
        return SIMD4(p0.x, p0.y + p0.z + p0.w, p1.sum() + (p2.x + p2.y), (p2.z + p2.w) + high.sum())
    }

    /// A per-rank value g = (rank 0, 1, 2, 3) spread over the monomials of rank 3's five SIMD4
    /// (the transpose of `rankSums3`; the fourth and fifth blocks are the same).
    @inline(__always)
    static func spreadRanks3(_ g: SIMD4<Double>) -> (SIMD4<Double>, SIMD4<Double>, SIMD4<Double>, SIMD4<Double>) {
        (SIMD4(g.x, g.y, g.y, g.y), SIMD4(repeating: g.z), SIMD4(g.z, g.z, g.w, g.w), SIMD4(repeating: g.w))
    }

    /// Index of the unordered species pair (s, t) among the S (S + 1) / 2 pairs.
    @inline(__always)
    func pairIndex(_ s: Int, _ t: Int, speciesCount S: Int) -> Int {
        let (b, c) = s <= t ? (s, t) : (t, s)
        return b * S - b * (b - 1) / 2 + (c - b)
    }

    /// Fills `weighted` with w_alpha M_t[alpha] for eta `e` and partner species `t`, and the
    /// shifted moments `shiftedX/Y/Z` from it (the partner side of every gradient).
    @inline(__always)
    func loadPartner(eta e: Int, species t: Int, speciesCount S: Int) {
        let K = monomialCount
        let mt = moments + (e * S + t) * monomialStride
        for k in 0..<K { weighted[k] = weight[k] * mt[k] }
        for k in 0..<rankStart[rank] {
            shiftedX[k] = Double(exponentA[k] &+ 1) * weighted[plusX[k]]
            shiftedY[k] = Double(exponentB[k] &+ 1) * weighted[plusY[k]]
            shiftedZ[k] = Double(exponentC[k] &+ 1) * weighted[plusZ[k]]
        }
    }
}
