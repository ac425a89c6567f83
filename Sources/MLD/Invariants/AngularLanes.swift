/// One agent's neighbours inside the angular cutoff, laid out a vector at a time (one lane of
/// `Lane` per neighbour, every batch of one species), for the selfish path of the moment-tensor
/// angular sums (`AngularMoments`): the moments and the folded own gradient then run as SIMD over
/// neighbours, with the monomials built rank by rank (one product each) and the radial factors
/// from `VectorMath`. `Lane` is `SIMD4<Double>` (four neighbours a batch; `CPUPrecision.double`)
/// or `SIMD8<Float>` (eight; `CPUPrecision.mixed`, every sum leaving the lanes in double).
///
/// A batch holds `fields` vectors: u_x, u_y, u_z (unit vector from the agent, dimensionless), r (Å),
/// a mask (1 for a neighbour, 0 for padding), per eta R = exp(-eta r²) f_c(r) (dimensionless) and
/// dR/dr (1/Å), then the monomials u^alpha. Padding lanes have u = 0, r = r_c and R = dR/dr = 0,
/// so they add nothing. Within a species, neighbours keep the order they are loaded in (the
/// gathered order, ascending atom index), so the sums do not depend on the list's history.
final class AngularLanes<Lane: AngularLane> {
    let tables: AngularMoments
    let cutoff: Double
    let speciesCount: Int
    /// Vectors per batch, and where the radial factors and the monomials start in a batch.
    let fields: Int
    let radialStart = 5
    let monomialStart: Int

    private(set) var batchCount = 0
    private var capacity = 16
    private var batches: UnsafeMutablePointer<Lane>
    private var batchSpecies: UnsafeMutablePointer<Int>
    /// Batches of species s are `batchStart[s] ..< batchStart[s + 1]`.
    private let batchStart: UnsafeMutablePointer<Int>
    /// Per species pair, the functions' weights T_f (`AngularMoments.functionWeights`) folded by
    /// the coefficients: C_pair[alpha] = sum_f c_f T_f[alpha], four monomials per SIMD4.
    private let pairWeights: UnsafeMutablePointer<SIMD4<Double>>
    private let foldedSums: UnsafeMutablePointer<Double>
    /// One coefficient per function (the current eta's, zero for the others).
    private let functionScratch: UnsafeMutablePointer<Double>
    /// The value row of the gradient weights per neighbour species s (four monomials per SIMD4,
    /// `monomialStride / 4` at s * monomialStride / 4): G_s[alpha] = sum_t C_(s, t)[alpha] M_t[alpha]
    /// over the partner species t.
    private let rowBlocks: UnsafeMutablePointer<SIMD4<Double>>
    /// The gradient weights per neighbour species s (4 K at s * 4 K), each in every lane so
    /// that the batches' dot products read whole vectors: the value row G_s, then the x, y, z
    /// rows (a_k + 1) G_s[k + e_x], (b_k + 1) G_s[k + e_y], (c_k + 1) G_s[k + e_z].
    private let rowLanes: UnsafeMutablePointer<Lane>
    /// A value row in the lanes' scalar (single-precision lanes only): each row is rounded once,
    /// then broadcast, instead of each entry converted on its own.
    private let rowScalars: UnsafeMutablePointer<Lane.Scalar>
    /// Per neighbour species s: the folded sum of the pair (s, s) (its j = l term).
    private let selfSums: UnsafeMutablePointer<Double>
    /// The unordered pair of species s and t at s S + t (`AngularMoments.pairIndex`).
    private let pairOf: UnsafeMutablePointer<Int>

    init(tables t: AngularMoments, cutoff: Double) {
        tables = t
        self.cutoff = cutoff
        speciesCount = t.speciesCount
        let E = t.etaCount, S = t.speciesCount, K = t.monomialCount, L = t.rank
        monomialStart = radialStart + 2 * E
        fields = monomialStart + K
        batches = .allocate(capacity: capacity * fields)
        batchSpecies = .allocate(capacity: capacity)
        batchStart = .allocate(capacity: S + 1)
        let blocks = t.monomialStride / 4
        pairWeights = .allocate(capacity: t.pairCount * blocks)
        foldedSums = .allocate(capacity: t.pairCount)
        functionScratch = .allocate(capacity: max(t.functionCount, 1))
        rowBlocks = .allocate(capacity: S * blocks)
        rowBlocks.initialize(repeating: .zero, count: S * blocks)
        rowLanes = .allocate(capacity: S * 4 * K)
        rowLanes.initialize(repeating: .zero, count: S * 4 * K)
        rowScalars = .allocate(capacity: t.monomialStride)
        rowScalars.initialize(repeating: 0, count: t.monomialStride)
        selfSums = .allocate(capacity: S)
        pairOf = .allocate(capacity: S * S)
        for a in 0..<S { for b in 0..<S { pairOf[a * S + b] = t.pairIndex(a, b, speciesCount: S) } }
        for m in 0...(L + 1) { precondition(t.rankStart[m] == Self.rankStart(m)) }
        // The monomial order `blockStart` and `shiftedRows` assume.
        for k in 0..<K {
            let a = t.exponentA[k], c = t.exponentC[k], n = a + t.exponentB[k] + c
            precondition(k == Self.blockStart(n, a) + c)
        }
        precondition(K == Self.rankStart(L + 1))
        // The rank-by-rank recurrence of `computeBatches` relies on the monomials' order: within
        // rank m, a from m down to 0, then b from m - a down to 0.
        for m in 1...L {   // L >= 1: `AngularMoments` has no rank-0 table
            let prev = t.rankStart[m - 1], dst = t.rankStart[m], cnt = dst - prev
            for i in 0..<cnt {
                precondition(t.exponentA[dst + i] == t.exponentA[prev + i] + 1
                             && t.exponentB[dst + i] == t.exponentB[prev + i])
            }
            for i in 0..<m {
                precondition(t.exponentA[dst + cnt + i] == 0
                             && t.exponentB[dst + cnt + i] == t.exponentB[prev + cnt - m + i] + 1)
            }
            precondition(t.exponentC[dst + cnt + m] == m)
        }
    }

    deinit {
        batches.deallocate(); batchSpecies.deallocate(); batchStart.deallocate()
        pairWeights.deallocate(); foldedSums.deallocate(); functionScratch.deallocate(); rowBlocks.deallocate(); rowLanes.deallocate()
        rowScalars.deallocate()
        selfSums.deallocate(); pairOf.deallocate()
    }

    private func grow() {
        let c = 2 * capacity
        let b = UnsafeMutablePointer<Lane>.allocate(capacity: c * fields)
        b.update(from: batches, count: batchCount * fields)
        let s = UnsafeMutablePointer<Int>.allocate(capacity: c)
        s.update(from: batchSpecies, count: batchCount)
        batches.deallocate(); batchSpecies.deallocate()
        batches = b; batchSpecies = s; capacity = c
    }

    /// A new batch of species s at the end (its fields to be written by the caller).
    @inline(__always)
    private func appendBatch(species s: Int) -> UnsafeMutablePointer<Lane> {
        if batchCount == capacity { grow() }
        batchSpecies[batchCount] = s
        let V = batches + batchCount &* fields
        batchCount &+= 1
        return V
    }

    /// Lays out the neighbours with r < `cutoff` among `count` gathered ones, species by species,
    /// then fills the radial factors and monomials of every batch and the moments `tables.moments`
    /// (M_s[alpha] per eta and species) and `tables.diagonal` (sum R² per eta and species).
    ///
    /// - Parameters:
    ///   - displacements: (dx, dy, dz, r) in Å from the agent to each gathered neighbour.
    ///   - species: each gathered neighbour's species index.
    ///   - runs: where the gathered neighbours come species by species, species s's are
    ///     `runs[s] ..< runs[s + 1]` (then `species` is not read); nil to pick them out by species.
    @inline(__always)
    func load(count: Int, displacements: UnsafePointer<SIMD4<Double>>, species: UnsafePointer<Int32>,
              runs: UnsafePointer<Int>? = nil) {
        let S = speciesCount, rc = cutoff, W = Lane.scalarCount
        batchCount = 0
        for s in 0..<S {
            batchStart[s] = batchCount
            var lane = W
            var B = UnsafeMutableRawPointer(batches).assumingMemoryBound(to: Lane.Scalar.self)
            var next = runs?[s] ?? 0
            let end = runs?[s + 1] ?? count
            while next < end {
                let i = next
                next &+= 1
                if runs == nil && Int(species[i]) != s { continue }
                let v = displacements[i]
                let r = v.w
                if r >= rc { continue }
                if lane == W {
                    let V = appendBatch(species: s)
                    V[0] = .zero; V[1] = .zero; V[2] = .zero
                    V[3] = Lane(repeating: Lane.Scalar(rc)); V[4] = .zero
                    B = UnsafeMutableRawPointer(V).assumingMemoryBound(to: Lane.Scalar.self)
                    lane = 0
                }
                let invR = 1 / r
                B[lane] = Lane.Scalar(v.x * invR); B[W &+ lane] = Lane.Scalar(v.y * invR)
                B[2 &* W &+ lane] = Lane.Scalar(v.z * invR)
                B[3 &* W &+ lane] = Lane.Scalar(r); B[4 &* W &+ lane] = 1
                lane &+= 1
            }
        }
        batchStart[S] = batchCount
        computeBatches()
    }

    /// `load` for species runs that hold only neighbours within the cutoff (a gather with the
    /// same cutoff): each run laid out a vector at a time as it comes, the displacements
    /// transposed into the lanes with one division per batch (`AngularLane.packed`). A neighbour at r >= cutoff (r² just below
    /// cutoff² can round to r = cutoff) is a lane with mask 0, which adds nothing.
    @inline(__always)
    func loadPacked(displacements d: UnsafePointer<SIMD4<Double>>, runs: UnsafePointer<Int>) {
        let S = speciesCount, W = Lane.scalarCount
        batchCount = 0
        for s in 0..<S {
            batchStart[s] = batchCount
            var i = runs[s]
            let end = runs[s + 1]
            while i < end {
                let V = appendBatch(species: s)
                let v = Lane.packed(d + i, count: end &- i, cutoff: cutoff)
                V[0] = v.ux; V[1] = v.uy; V[2] = v.uz; V[3] = v.r; V[4] = v.mask
                i &+= W
            }
        }
        batchStart[S] = batchCount
        computeBatches()
    }

    /// Monomials of rank below m: C(m + 2, 3) (rank m has (m + 1)(m + 2) / 2 of them). Written as
    /// a formula so that, inlined with a literal rank, every loop bound below is a constant.
    @inline(__always)
    static func rankStart(_ m: Int) -> Int { m &* (m &+ 1) &* (m &+ 2) / 6 }

    /// Calls `body(n)` for every rank n from `first` through `L`, with a literal n up to 4: inlined
    /// into a specialisation with a constant rank, each call's loops over the monomials of rank n
    /// have constant bounds and unroll (a loop over n whose inner bounds depend on n is not
    /// unrolled by the compiler).
    @inline(__always)
    static func forEachRank(from first: Int = 0, through L: Int, _ body: (Int) -> Void) {
        if first <= 0 && L >= 0 { body(0) }
        if first <= 1 && L >= 1 { body(1) }
        if first <= 2 && L >= 2 { body(2) }
        if first <= 3 && L >= 3 { body(3) }
        if first <= 4 && L >= 4 { body(4) }
        var n = max(first, 5)
        while n <= L { body(n); n &+= 1 }
    }

    /// Radial factors, monomials and moments of every batch, specialised per rank up to 4 (the
    /// rank is then a constant and the loops unroll into straight-line code), read at run time
    /// beyond.
    @inline(__always)
    private func computeBatches() {
        switch tables.rank {
        case 1: computeBatches(Count1.self)
        case 2: computeBatches(Count2.self)
        case 3: computeBatches(Count3.self)
        case 4: computeBatches(Count4.self)
        default: computeBatches(DynamicCount.self)
        }
    }

    /// Rank m of the monomials from rank m - 1: u_x times all of it, u_y times its a = 0 part,
    /// u_z times its last monomial (the order `init` checks).
    @inline(__always)
    private static func monomialRank(_ mono: UnsafeMutablePointer<Lane>, _ m: Int,
                                     _ ux: Lane, _ uy: Lane, _ uz: Lane) {
        let prev = rankStart(m &- 1), dst = rankStart(m), cnt = dst &- prev
        var i = 0
        while i < cnt { mono[dst &+ i] = ux * mono[prev &+ i]; i &+= 1 }
        i = 0
        while i < m { mono[dst &+ cnt &+ i] = uy * mono[dst &- m &+ i]; i &+= 1 }
        mono[dst &+ cnt &+ m] = uz * mono[dst &- 1]
    }

    @inline(__always)
    private static func monomials(_ mono: UnsafeMutablePointer<Lane>, rank L: Int,
                                  _ ux: Lane, _ uy: Lane, _ uz: Lane) {
        mono[0] = Lane(repeating: 1)
        forEachRank(from: 1, through: L) { m in monomialRank(mono, m, ux, uy, uz) }
    }

    private func computeBatches<R: StaticCount>(_: R.Type) {
        let t = tables
        let L = R.value ?? t.rank
        let S = speciesCount, F = fields, E = t.etaCount, K = Self.rankStart(L &+ 1)
        let piOverRc = Lane.Scalar(Double.pi / cutoff)
        for s in 0..<S {
            let first = batchStart[s], end = batchStart[s + 1]
            // Radial factors and monomials, batch by batch.
            for b in first..<end {
                let B = batches + b &* F
                let r = B[3], mask = B[4]
                let (c, sn) = Lane.cosSinHalfTurn(piOverRc * r)
                let fc = 0.5 * (1 + c) * mask
                let dfc = (-0.5 * piOverRc) * sn * mask
                Self.monomials(B + monomialStart, rank: L, B[0], B[1], B[2])
                for e in 0..<E {
                    let eta = Lane.Scalar(t.etas[e])
                    let ex = Lane.exp(-eta * r * r)
                    let R = ex * fc
                    B[radialStart &+ 2 &* e] = R
                    B[radialStart &+ 2 &* e &+ 1] = ex * dfc - (2 * eta) * r * R
                }
            }
            // M_s[alpha] = sum over the batches of R u^alpha, then across the lanes (no batch:
            // zero); the batches in order for every monomial, the running sums in registers.
            for e in 0..<E {
                let out = t.moments + (e * S + s) * t.monomialStride
                if first == end {
                    for k in 0..<K { out[k] = 0 }
                    t.diagonal[e * S + s] = 0
                    continue
                }
                let radial = batches + (radialStart &+ 2 &* e)
                var d = Lane.zero
                for b in first..<end {
                    let R = radial[b &* F]
                    d = Lane.mulAdd(R, R, d)
                }
                t.diagonal[e * S + s] = d.laneSum
                // the two highest ranks from the batches, the lower ones by contraction
                let top = Self.rankStart(Self.lowestRank(L))
                Self.accumulateMoments(out + top, count: K &- top, batches: batches + (monomialStart &+ top),
                                       radial: radial, stride: F, first: first, end: end)
                @inline(__always) func contract(_ n: Int) { Self.contractRank(L &- 2 &- n, out) }
                Self.forEachRank(through: L &- 2, contract)
            }
        }
    }

    /// out[k] = the lane sum of sum over batches b in first..<end of R_b mono_b[k], k < count
    /// (mono_b at `batches + b stride`, R_b at `radial + b stride`): eight monomials at a time
    /// with their running sums in registers, each summed over the batches in order (the first
    /// batch's product, then one fused step per batch).
    @inline(__always)
    private static func accumulateMoments(_ out: UnsafeMutablePointer<Double>, count K: Int,
                                          batches: UnsafeMutablePointer<Lane>,
                                          radial: UnsafeMutablePointer<Lane>,
                                          stride F: Int, first: Int, end: Int) {
        var k = 0
        while k &+ 8 <= K {
            let m0 = batches + (first &* F &+ k)
            let R0 = radial[first &* F]
            var a0 = R0 * m0[0], a1 = R0 * m0[1], a2 = R0 * m0[2], a3 = R0 * m0[3]
            var a4 = R0 * m0[4], a5 = R0 * m0[5], a6 = R0 * m0[6], a7 = R0 * m0[7]
            var b = first &+ 1
            while b < end {
                let m = batches + (b &* F &+ k)
                let R = radial[b &* F]
                a0 = Lane.mulAdd(R, m[0], a0); a1 = Lane.mulAdd(R, m[1], a1)
                a2 = Lane.mulAdd(R, m[2], a2); a3 = Lane.mulAdd(R, m[3], a3)
                a4 = Lane.mulAdd(R, m[4], a4); a5 = Lane.mulAdd(R, m[5], a5)
                a6 = Lane.mulAdd(R, m[6], a6); a7 = Lane.mulAdd(R, m[7], a7)
                b &+= 1
            }
            out[k] = a0.laneSum; out[k &+ 1] = a1.laneSum; out[k &+ 2] = a2.laneSum; out[k &+ 3] = a3.laneSum
            out[k &+ 4] = a4.laneSum; out[k &+ 5] = a5.laneSum; out[k &+ 6] = a6.laneSum; out[k &+ 7] = a7.laneSum
            k &+= 8
        }
        while k < K {
            var a = radial[first &* F] * batches[first &* F &+ k]
            var b = first &+ 1
            while b < end { a = Lane.mulAdd(radial[b &* F], batches[b &* F &+ k], a); b &+= 1 }
            out[k] = a.laneSum
            k &+= 1
        }
    }

    /// sum_a c_a dphi_a/dq_k over the block's angular sums (c at the block's first invariant,
    /// `functionCount` functions per species pair): the agent's own gradient weighted by c, in
    /// 1/Å times the unit of c. Needs the moments of the last `load`.
    ///
    /// The functions of one species pair and eta fold into one weight per monomial,
    /// C[alpha] = sum_f c_f T_f[alpha] (`AngularMoments.functionWeights`), C into the partners'
    /// moments (`rowBlocks`), four monomials at a time, and each batch of neighbours costs
    /// four dot products over the monomials: A = sum_n (dR/dr - n R / r) sum over rank n of
    /// G[alpha] u^alpha, the u-gradient V from the shifted rows, and the neighbour adds
    /// -(A u + (R / r) V).
    @inline(__always)
    func ownGradient(_ c: UnsafePointer<Double>, functionCount nf: Int) -> SIMD3<Double> {
        switch tables.rank {
        case 1: return ownGradient(c, functionCount: nf, Count1.self)
        case 2: return ownGradient(c, functionCount: nf, Count2.self)
        case 3: return ownGradient(c, functionCount: nf, Count3.self)
        case 4: return ownGradient(c, functionCount: nf, Count4.self)
        default: return ownGradient(c, functionCount: nf, DynamicCount.self)
        }
    }

    private func ownGradient<R: StaticCount>(_ c: UnsafePointer<Double>, functionCount nf: Int, _: R.Type) -> SIMD3<Double> {
        let t = tables
        let L = R.value ?? t.rank
        let S = speciesCount, E = t.etaCount, K = Self.rankStart(L &+ 1), nb = (K &+ 3) / 4
        let lowest = Self.lowestRank(L)
        var tx = Lane.zero, ty = Lane.zero, tz = Lane.zero
        for e in 0..<E {
            let any = R.value == 3 ? foldRanks3(c, functionCount: nf, eta: e)
                                   : fold(c, functionCount: nf, eta: e, blocks: nb)
            if !any { continue }
            for sj in 0..<S {
                let row = UnsafeMutableRawPointer(rowBlocks + sj &* nb).assumingMemoryBound(to: Double.self)
                // every rank's values moved into the two highest (`liftRank`), in every lane
                @inline(__always) func lift(_ n: Int) { Self.liftRank(n, row) }
                Self.forEachRank(through: L &- 2, lift)
                let lanes = rowLanes + sj * 4 * K
                // the row in the lanes' scalar: itself in double, else rounded once before its
                // broadcasts
                let scalars: UnsafeMutablePointer<Lane.Scalar>
                if Lane.Scalar.self == Double.self {
                    scalars = UnsafeMutableRawPointer(row).assumingMemoryBound(to: Lane.Scalar.self)
                } else {
                    scalars = rowScalars
                    var k = 0
                    while k < K { scalars[k] = Lane.Scalar(row[k]); k &+= 1 }
                }
                var k = Self.rankStart(lowest)
                while k < K { lanes[k] = Lane(repeating: scalars[k]); k &+= 1 }
                @inline(__always) func shift(_ n: Int) { Self.shiftedRows(n, row: scalars, lanes: lanes, stride: K) }
                Self.forEachRank(from: max(lowest &- 1, 0), through: L &- 1, shift)
            }
            for sj in 0..<S { selfSums[sj] = foldedSums[pairOf[sj &* S &+ sj]] }
            let (x, y, z) = batchGradient(e, R.self)
            tx += x; ty += y; tz += z
        }
        return -SIMD3(tx.laneSum, ty.laneSum, tz.laneSum)
    }

    /// The value rows G_s = sum_t C_(s, t) M_t (`rowBlocks`) and the folded sums at j = l
    /// (`foldedSums`) for eta e, with C_pair = sum_f c_f T_f over the functions of eta e; false
    /// when none has eta e.
    @inline(__always)
    private func fold(_ c: UnsafePointer<Double>, functionCount nf: Int, eta e: Int, blocks nb: Int) -> Bool {
        let t = tables, S = speciesCount
        let weights = t.functionWeights, coefficientSum = t.coefficientSum, etaOf = t.etaOfFunction
        // C_pair = sum_f c_f T_f over the functions of eta e (the others weighted by zero),
        // four monomials and four functions at a time (`fold`), and their values at j = l.
        // With one eta every function is its own: the coefficients fold as they are, without
        // the masked copy.
        var any = t.etaCount == 1 && nf > 0
        for pair in 0..<t.pairCount {
            let cp = c + pair &* nf
            var sum = 0.0
            var f = 0
            let coefficients: UnsafePointer<Double>
            if t.etaCount == 1 {
                while f < nf { sum += cp[f] * coefficientSum[f]; f &+= 1 }
                coefficients = cp
            } else {
                while f < nf {
                    let mine = etaOf[f] == e
                    let cf = mine ? cp[f] : 0
                    functionScratch[f] = cf
                    sum += cf * coefficientSum[f]
                    any = any || mine
                    f &+= 1
                }
                coefficients = UnsafePointer(functionScratch)
            }
            foldedSums[pair] = sum
            Self.fold(coefficients, count: nf, weights: weights, blocks: nb, into: pairWeights + pair &* nb)
        }
        if !any { return false }
        // G_s = sum_t C_(s, t) M_t
        let M = t.momentBlocks + e &* S &* nb
        for sj in 0..<S {
            let rowB = rowBlocks + sj &* nb
            for tt in 0..<S {
                let C = pairWeights + pairOf[sj &* S &+ tt] &* nb
                let mt = M + tt &* nb
                var i = 0
                if tt == 0 { while i < nb { rowB[i] = C[i] * mt[i]; i &+= 1 } }
                else { while i < nb { rowB[i] = VectorMath.mulAdd(C[i], mt[i], rowB[i]); i &+= 1 } }
            }
        }
        return true
    }

    /// `fold` for rank 3, where T_f[alpha] = C(zeta_f, m) lambda_f^m w_alpha depends on alpha
    /// through its rank m and its multinomial weight only: each pair's functions fold into four
    /// numbers g_pair[m] = sum_f c_f C(zeta_f, m) lambda_f^m (`AngularMoments.coefficientVector`),
    /// spread over the five blocks of monomials (`spreadRanks3`), and G_s = w (sum_t g_(s, t) M_t).
    @inline(__always)
    private func foldRanks3(_ c: UnsafePointer<Double>, functionCount nf: Int, eta e: Int) -> Bool {
        let t = tables, S = speciesCount, etaOf = t.etaOfFunction, cv = t.coefficientVector
        var any = false
        let one = t.etaCount == 1
        for pair in 0..<t.pairCount {
            let cp = c + pair &* nf
            var g = SIMD4<Double>.zero
            var f = 0
            if one {
                // every function is of this eta: no test per function
                while f < nf { g = VectorMath.mulAdd(cp[f], cv[f].lowHalf, g); f &+= 1 }
                any = any || nf > 0
            } else {
                while f < nf {
                    if etaOf[f] == e { g = VectorMath.mulAdd(cp[f], cv[f].lowHalf, g); any = true }
                    f &+= 1
                }
            }
            pairWeights[pair] = g
            foldedSums[pair] = g.sum()
        }
        if !any { return false }
        let M = t.momentBlocks + e &* S &* 5, W = t.weightBlocks
        for sj in 0..<S {
            var a0 = SIMD4<Double>.zero, a1 = a0, a2 = a0, a3 = a0, a4 = a0
            for tt in 0..<S {
                let (g0, g1, g2, g3) = AngularMoments.spreadRanks3(pairWeights[pairOf[sj &* S &+ tt]])
                let mt = M + tt &* 5
                a0 = VectorMath.mulAdd(g0, mt[0], a0); a1 = VectorMath.mulAdd(g1, mt[1], a1)
                a2 = VectorMath.mulAdd(g2, mt[2], a2); a3 = VectorMath.mulAdd(g3, mt[3], a3)
                a4 = VectorMath.mulAdd(g3, mt[4], a4)
            }
            let rowB = rowBlocks + sj &* 5
            rowB[0] = W[0] * a0; rowB[1] = W[1] * a1; rowB[2] = W[2] * a2; rowB[3] = W[3] * a3; rowB[4] = W[4] * a4
        }
        return true
    }

    /// C = sum_f cf[f] T_f over `count` functions (T_f: `blocks` SIMD4 at T + f blocks), four
    /// functions at a time so that each block of C is summed in a register and stored once.
    @inline(__always)
    static func fold(_ cf: UnsafePointer<Double>, count nf: Int, weights T: UnsafePointer<SIMD4<Double>>,
                     blocks nb: Int, into C: UnsafeMutablePointer<SIMD4<Double>>) {
        var f = 0
        while f &+ 4 <= nf {
            let c0 = SIMD4(repeating: cf[f]), c1 = SIMD4(repeating: cf[f &+ 1])
            let c2 = SIMD4(repeating: cf[f &+ 2]), c3 = SIMD4(repeating: cf[f &+ 3])
            let t0 = T + f &* nb, t1 = t0 + nb, t2 = t1 + nb, t3 = t2 + nb
            var i = 0
            while i < nb {
                var acc = f == 0 ? c0 * t0[i] : VectorMath.mulAdd(c0, t0[i], C[i])
                acc = VectorMath.mulAdd(c1, t1[i], acc)
                acc = VectorMath.mulAdd(c2, t2[i], acc)
                C[i] = VectorMath.mulAdd(c3, t3[i], acc)
                i &+= 1
            }
            f &+= 4
        }
        while f < nf {
            let c0 = SIMD4(repeating: cf[f]), t0 = T + f &* nb
            var i = 0
            while i < nb { C[i] = f == 0 ? c0 * t0[i] : VectorMath.mulAdd(c0, t0[i], C[i]); i &+= 1 }
            f &+= 1
        }
    }

    /// Where monomial (a, b, c) of rank n = a + b + c sits: rank n's monomials run a from n
    /// down to 0, each a's block b from n - a down to 0, so (a, b, c) is entry c of block a,
    /// which starts (n - a)(n - a + 1) / 2 into the rank.
    @inline(__always)
    static func blockStart(_ n: Int, _ a: Int) -> Int { rankStart(n) &+ (n &- a) &* (n &- a &+ 1) / 2 }

    /// The lowest rank the batches carry moments and gradient values for: L - 1 (rank L's
    /// monomials with |u| = 1 hold every even rank below it, rank L - 1's every odd one), or 0
    /// for L = 1.
    @inline(__always)
    static func lowestRank(_ L: Int) -> Int { max(L &- 1, 0) }

    /// Calls `body(k, x, y, z, a, c)` for every monomial k = alpha = (a, b, c) of rank n, with x, y,
    /// z the places of alpha + d e_x, alpha + d e_y and alpha + d e_z in rank n + d: (a + d, b, c)
    /// is entry c of block a + d, (a, b + d, c) entry c and (a, b, c + d) entry c + d of block a.
    /// With a literal n and d (`forEachRank`) every index is a constant.
    @inline(__always)
    static func forEachRaised(_ n: Int, by d: Int, _ body: (Int, Int, Int, Int, Int, Int) -> Void) {
        var a = n
        while a >= 0 {
            let k0 = blockStart(n, a), x0 = blockStart(n &+ d, a &+ d), y0 = blockStart(n &+ d, a)
            var c = 0
            while c <= n &- a {
                body(k0 &+ c, x0 &+ c, y0 &+ c, y0 &+ c &+ d, a, c)
                c &+= 1
            }
            a &-= 1
        }
    }

    /// M_n[alpha] = sum_i M_(n+2)[alpha + 2 e_i] for the monomials alpha of rank n: with |u| = 1,
    /// u^alpha = u^alpha (u_x² + u_y² + u_z²), so rank n's moments follow from rank n + 2's.
    @inline(__always)
    static func contractRank(_ n: Int, _ M: UnsafeMutablePointer<Double>) {
        forEachRaised(n, by: 2) { k, x, y, z, _, _ in M[k] = M[x] + M[y] + M[z] }
    }

    /// The transpose of `contractRank`: G[alpha + 2 e_i] += G[alpha] for the monomials alpha of
    /// rank n, which moves rank n's part of a polynomial G.u^alpha on the unit sphere into rank
    /// n + 2 (the same values wherever |u| = 1).
    @inline(__always)
    static func liftRank(_ n: Int, _ G: UnsafeMutablePointer<Double>) {
        forEachRaised(n, by: 2) { k, x, y, z, _, _ in
            let g = G[k]
            G[x] += g; G[y] += g; G[z] += g
        }
    }

    /// The x, y and z rows of rank n (below the highest) from the value row, in every lane:
    /// (a + 1) G[k + e_x], (b + 1) G[k + e_y], (c + 1) G[k + e_z] for monomial k = (a, b, c)
    /// (`forEachRaised` by 1). With a literal n (ranks up to 4, `forEachRank`) every index and
    /// factor is a constant; `init` checks the monomial order this assumes.
    @inline(__always)
    static func shiftedRows(_ n: Int, row: UnsafeMutablePointer<Lane.Scalar>, lanes: UnsafeMutablePointer<Lane>,
                            stride K: Int) {
        forEachRaised(n, by: 1) { k, x, y, z, a, c in
            lanes[K &+ k] = Lane(repeating: Lane.Scalar(a &+ 1) * row[x])
            lanes[2 &* K &+ k] = Lane(repeating: Lane.Scalar(n &- a &- c &+ 1) * row[y])
            lanes[3 &* K &+ k] = Lane(repeating: Lane.Scalar(c &+ 1) * row[z])
        }
    }

    /// S_n = sum over the monomials k of rank n of row0[k] u^k (with `value`; zero without), and
    /// with `gradient` the u-gradient rows' terms of rank n added to `v` (rows 1-3 at `stride`,
    /// 2 stride, 3 stride). Inlined with literal flags, each loop keeps only its own products.
    @inline(__always)
    private static func rankDot(_ n: Int, value: Bool, gradient: Bool, row: UnsafeMutablePointer<Lane>,
                                stride K: Int, mono: UnsafeMutablePointer<Lane>,
                                v: inout (Lane, Lane, Lane)) -> Lane {
        var sn = Lane.zero
        var (vx, vy, vz) = v
        var k = rankStart(n)
        let end = rankStart(n &+ 1)
        while k < end {
            let m = mono[k]
            if value { sn = Lane.mulAdd(row[k], m, sn) }
            if gradient {
                vx = Lane.mulAdd(row[K &+ k], m, vx)
                vy = Lane.mulAdd(row[2 &* K &+ k], m, vy)
                vz = Lane.mulAdd(row[3 &* K &+ k], m, vz)
            }
            k &+= 1
        }
        v = (vx, vy, vz)
        return sn
    }

    /// The lane-wise sums of -(A u + (R / r) V) over the batches for eta `e` (see `ownGradient`).
    /// Specialised per rank like `computeBatches`.
    @inline(__always)
    private func batchGradient<R: StaticCount>(_ e: Int, _: R.Type) -> (Lane, Lane, Lane) {
        let L = R.value ?? tables.rank
        let F = fields, K = Self.rankStart(L &+ 1), lowest = Self.lowestRank(L)
        var tx = Lane.zero, ty = Lane.zero, tz = Lane.zero
        for b in 0..<batchCount {
            let B = batches + b &* F
            let sj = batchSpecies[b]
            let row = rowLanes + sj &* 4 &* K
            let mono = B + monomialStart
            let R = B[radialStart &+ 2 &* e], D = B[radialStart &+ 2 &* e &+ 1]
            let rOver = R / B[3]
            // A = sum over ranks n of (dR/dr - n R / r) S_n, S_n = sum over rank n of row0 u^alpha:
            // the two highest ranks (every value was lifted into them), and the gradient rows
            // of the rank below on its monomials.
            var A = Lane.zero
            var v = (Lane.zero, Lane.zero, Lane.zero)
            @inline(__always) func rank(_ n: Int) {
                let sn = Self.rankDot(n, value: n >= lowest, gradient: n < L, row: row, stride: K, mono: mono, v: &v)
                if n >= lowest { A = Lane.mulAdd(D - Lane.Scalar(n) * rOver, sn, A) }
            }
            Self.forEachRank(from: max(lowest &- 1, 0), through: L, rank)
            let (vx, vy, vz) = v
            A -= Lane.Scalar(selfSums[sj]) * R * D
            tx += Lane.mulAdd(A, B[0], rOver * vx)
            ty += Lane.mulAdd(A, B[1], rOver * vy)
            tz += Lane.mulAdd(A, B[2], rOver * vz)
        }
        return (tx, ty, tz)
    }
}
