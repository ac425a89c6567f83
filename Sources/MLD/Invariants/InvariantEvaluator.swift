import Foundation

/// Evaluates one agent's invariants phi_k and their gradients, for every block of one
/// `InvariantSpec`, from a list of candidate neighbours: the single source of truth for the
/// per-agent physics (the fit, the CPU backend, `eval`, the sensitivity table and the range
/// checks all run it; Kernels/invariants.cl mirrors it).
///
/// After `evaluate`:
/// - `phi[a]` holds invariant a (Å or 1/Å for distances, dimensionless for sums and cosines);
/// - `gradient[a]` holds dphi_a/dq_k, the derivative with respect to the agent's own position
///   (per Å for distances, 1/Å for cosines and sums);
/// - with `recordsNeighbourGradients`, the terms `(termAtom[t], termInvariant[t], termGradient[t])`
///   for t < `termCount` hold dphi_a/dq_j for the atoms j the agent's invariants depend on. An
///   (a, j) pair may appear in several terms; dphi_a/dq_j is their sum. Translation invariance
///   makes `gradient[a] = -sum_j dphi_a/dq_j`.
///
/// An evaluator owns its scratch memory (allocated in `init`, grown only when a neighbourhood is
/// larger than any before), so `evaluate` does not allocate in the steady state: make one
/// evaluator per thread and reuse it for every agent. It is not thread-safe.
///
/// Candidates may be any superset of the atoms within `spec.range` of the agent (all atoms, or a
/// row of a neighbour list with a skin); the agent itself and atoms farther than a block's range
/// are skipped. Each candidate must appear once. Distances are minimum-image (`minimumImage`),
/// so `spec.range` must not exceed half the shortest box edge. Sums (radial, angular) run over
/// neighbours in ascending atom index (species by species for a species-split list row), so the
/// result does not depend on the order of the candidates.
public final class InvariantEvaluator {
    public let spec: InvariantSpec
    /// Number of invariants P.
    public let count: Int
    /// phi_a after `evaluate`.
    public let phi: UnsafeMutableBufferPointer<Double>
    /// dphi_a/dq_k after `evaluate`.
    public let gradient: UnsafeMutableBufferPointer<SIMD3<Double>>

    /// Record dphi_a/dq_j for the neighbours j (off by default: selfish forces need only the
    /// agent's own gradient).
    public var recordsNeighbourGradients = false
    /// Number of neighbour terms after `evaluate` (with `recordsNeighbourGradients`).
    public private(set) var termCount = 0
    public private(set) var termAtom: UnsafeMutablePointer<Int32>
    public private(set) var termInvariant: UnsafeMutablePointer<Int32>
    public private(set) var termGradient: UnsafeMutablePointer<SIMD3<Double>>
    private var termLocal: UnsafeMutablePointer<Int32>
    private var termCapacity: Int

    private let speciesCount: Int
    // nearest block
    private let hasNearest: Bool
    private let inverse: Bool
    private let searchRadius2: Double
    private let searchRadius: Double
    private let nearestCount: Int
    private let counts: UnsafeMutablePointer<Int>
    private let starts: UnsafeMutablePointer<Int>
    private let filled: UnsafeMutablePointer<Int>
    /// Per nearest slot: (dx, dy, dz, r²) with d = q_j - q_k (Å, Å²), and the atom j.
    private let slots: UnsafeMutablePointer<SIMD4<Double>>
    private let slotAtom: UnsafeMutablePointer<Int32>
    // radial block
    private let radialOffset: Int
    private let radialCutoff: Double
    private let basisCount: Int
    private let gaussian: Bool
    private let params: UnsafeMutablePointer<Double>
    private let width: Double
    // labelled angles: slot indices of the two neighbours of each angle
    private let labelledOffset: Int
    private let labelledCount: Int
    private let labelledSlots: UnsafeMutablePointer<Int>
    // angular sums
    private let angularOffset: Int
    private let angularCutoff: Double
    private let functionCount: Int
    private let etas: UnsafeMutablePointer<Double>
    private let lambdas: UnsafeMutablePointer<Double>
    private let zetas: UnsafeMutablePointer<Double>
    private let integerZeta: UnsafeMutablePointer<Int>
    // gathered neighbours within the largest sum cutoff (radial or angular)
    private let sumCutoff: Double
    private var gatherCapacity: Int
    private var gAtom: UnsafeMutablePointer<Int32>
    private var gSpecies: UnsafeMutablePointer<Int32>
    private var gDisp: UnsafeMutablePointer<SIMD4<Double>>   // (dx, dy, dz, r)
    private var gRadial: UnsafeMutablePointer<Double>        // per neighbour and function: exp(-eta r²) fc(r)
    private var gRadialDerivative: UnsafeMutablePointer<Double> // its d/dr divided by r
    private var gInside: UnsafeMutablePointer<Int32>          // gathered neighbours inside the angular cutoff
    // where each gathered neighbour goes in ascending atom order, and the arrays the order is
    // applied into (see `rankRun`, `permuteGathered`)
    private var gRank: UnsafeMutablePointer<Int32>
    private var gAtomSpare: UnsafeMutablePointer<Int32>
    private var gSpeciesSpare: UnsafeMutablePointer<Int32>
    private var gDispSpare: UnsafeMutablePointer<SIMD4<Double>>
    // a gather with the row's identity ranks (`gather`): the segment's neighbours at their
    // ranks, and a bit per rank taken
    private var sparseCapacity = 0
    private var sparseAtom = UnsafeMutablePointer<Int32>.allocate(capacity: 1)
    private var sparseDisp = UnsafeMutablePointer<SIMD4<Double>>.allocate(capacity: 1)
    private var sparseBits = UnsafeMutablePointer<UInt64>.allocate(capacity: 1)
    // angular sums through moment tensors (see `angularSumsByMoments`); nil when some zeta is not
    // an integer in 1...maximumMomentRank
    private let moments: AngularMoments?
    private var mMono: UnsafeMutablePointer<Double>           // per neighbour inside: u^alpha for every monomial
    private var mPowers: UnsafeMutablePointer<Double>         // per neighbour inside: 3 x (rank + 2) shifted powers
    // the selfish path of the moment-tensor sums: neighbours in SIMD4<Double> lanes, or with
    // `singlePrecisionLanes` in SIMD8<Float> lanes (see `AngularLanes`)
    private let lanes: AngularLanes<SIMD4<Double>>?
    private var singleLanes: AngularLanes<SIMD8<Float>>? {
        didSet { singleLanesReference = singleLanes.map { Unmanaged.passUnretained($0) } }
    }
    // The same lanes, unretained (the properties above hold them): the evaluation of every agent
    // calls into them without a retain and release of each.
    private var lanesReference: Unmanaged<AngularLanes<SIMD4<Double>>>?
    private var singleLanesReference: Unmanaged<AngularLanes<SIMD8<Float>>>?

    public init(spec: InvariantSpec) {
        self.spec = spec
        count = spec.count
        speciesCount = spec.species.count
        let S = speciesCount
        phi = .allocate(capacity: max(count, 1))
        gradient = .allocate(capacity: max(count, 1))
        phi.initialize(repeating: 0)
        gradient.initialize(repeating: .zero)
        termCapacity = 256
        termAtom = .allocate(capacity: termCapacity)
        termInvariant = .allocate(capacity: termCapacity)
        termGradient = .allocate(capacity: termCapacity)
        termLocal = .allocate(capacity: termCapacity)

        let near = spec.nearest
        hasNearest = near != nil
        inverse = near?.transform == .inverse
        searchRadius = near?.searchRadius ?? 0
        searchRadius2 = searchRadius * searchRadius
        nearestCount = near.map { $0.counts.reduce(0, +) } ?? 0
        counts = .allocate(capacity: S)
        starts = .allocate(capacity: S + 1)
        filled = .allocate(capacity: S)
        for b in 0..<S {
            counts[b] = near?.counts[b] ?? 0
            starts[b] = near?.start(b) ?? 0
            filled[b] = 0
        }
        starts[S] = nearestCount
        slots = .allocate(capacity: max(nearestCount, 1))
        slots.initialize(repeating: .zero, count: max(nearestCount, 1))
        slotAtom = .allocate(capacity: max(nearestCount, 1))
        slotAtom.initialize(repeating: 0, count: max(nearestCount, 1))

        var radialOffset = 0, labelledOffset = 0, angularOffset = 0
        for (i, b) in spec.blocks.enumerated() {
            switch b {
            case .radial: radialOffset = spec.offset(ofBlock: i)
            case .labelledAngles: labelledOffset = spec.offset(ofBlock: i)
            case .angularSums: angularOffset = spec.offset(ofBlock: i)
            case .nearest: break
            }
        }
        self.radialOffset = radialOffset
        self.labelledOffset = labelledOffset
        self.angularOffset = angularOffset

        let radial = spec.radial
        radialCutoff = radial?.cutoff ?? 0
        basisCount = radial?.basis.count ?? 0
        gaussian = radial?.basis.kind == .gaussian
        width = radial?.basis.width ?? 1
        params = .allocate(capacity: max(basisCount, 1))
        params.initialize(repeating: 0, count: max(basisCount, 1))
        if let basis = radial?.basis {
            let p = basis.kind == .gaussian ? basis.centres! : basis.powers!
            for i in 0..<basisCount { params[i] = p[i] }
        }

        let labelled = spec.labelledAngles
        labelledCount = labelled?.pairs.count ?? 0
        labelledSlots = .allocate(capacity: max(2 * labelledCount, 1))
        if let labelled, let near {
            for (i, (x, y)) in labelled.pairs.enumerated() {
                let sx = spec.species.firstIndex(of: x.element) ?? 0, sy = spec.species.firstIndex(of: y.element) ?? 0
                labelledSlots[2 * i] = near.start(sx) + x.rank - 1
                labelledSlots[2 * i + 1] = near.start(sy) + y.rank - 1
            }
        }

        let angular = spec.angularSums
        angularCutoff = angular?.cutoff ?? 0
        functionCount = angular?.functions.count ?? 0
        etas = .allocate(capacity: max(functionCount, 1))
        lambdas = .allocate(capacity: max(functionCount, 1))
        zetas = .allocate(capacity: max(functionCount, 1))
        integerZeta = .allocate(capacity: max(functionCount, 1))
        for (i, f) in (angular?.functions ?? []).enumerated() {
            etas[i] = f.eta; lambdas[i] = f.lambda; zetas[i] = f.zeta
            integerZeta[i] = f.zeta == f.zeta.rounded() && f.zeta <= 16 ? Int(f.zeta) : 0
        }

        sumCutoff = max(radialCutoff, angularCutoff)
        gatherCapacity = 64
        // 8 entries past the capacity, so that `rankRun` can read eight atoms from any place
        gAtom = .allocate(capacity: gatherCapacity + 8)
        gAtom.initialize(repeating: 0, count: gatherCapacity + 8)
        gSpecies = .allocate(capacity: gatherCapacity)
        gDisp = .allocate(capacity: gatherCapacity)
        gRadial = .allocate(capacity: gatherCapacity * max(functionCount, 1))
        gRadialDerivative = .allocate(capacity: gatherCapacity * max(functionCount, 1))
        gInside = .allocate(capacity: gatherCapacity)
        gRank = .allocate(capacity: gatherCapacity + 8)
        gRank.initialize(repeating: 0, count: gatherCapacity + 8)
        gAtomSpare = .allocate(capacity: gatherCapacity + 8)
        gAtomSpare.initialize(repeating: 0, count: gatherCapacity + 8)
        gSpeciesSpare = .allocate(capacity: gatherCapacity)
        gDispSpare = .allocate(capacity: gatherCapacity)
        moments = angular.flatMap { AngularMoments(sums: $0, speciesCount: S) }
        lanes = moments.map { AngularLanes(tables: $0, cutoff: angular?.cutoff ?? 0) }
        lanesReference = lanes.map { Unmanaged.passUnretained($0) }
        gatheredRuns = .allocate(capacity: S + 1)
        gatheredRuns.initialize(repeating: 0, count: S + 1)
        mMono = .allocate(capacity: gatherCapacity * max(moments?.monomialStride ?? 1, 1))
        mPowers = .allocate(capacity: gatherCapacity * 3 * ((moments?.rank ?? 0) + 2))
    }

    deinit {
        phi.deallocate(); gradient.deallocate()
        termAtom.deallocate(); termInvariant.deallocate(); termGradient.deallocate(); termLocal.deallocate()
        counts.deallocate(); starts.deallocate(); filled.deallocate()
        slots.deallocate(); slotAtom.deallocate(); params.deallocate(); labelledSlots.deallocate()
        etas.deallocate(); lambdas.deallocate(); zetas.deallocate(); integerZeta.deallocate()
        gAtom.deallocate(); gSpecies.deallocate(); gDisp.deallocate(); gatheredRuns.deallocate()
        gRadial.deallocate(); gRadialDerivative.deallocate(); gInside.deallocate()
        gRank.deallocate()
        gAtomSpare.deallocate(); gSpeciesSpare.deallocate(); gDispSpare.deallocate()
        sparseAtom.deallocate(); sparseDisp.deallocate(); sparseBits.deallocate()
        mMono.deallocate(); mPowers.deallocate()
    }

    /// Evaluates phi and its gradients for `agent` from candidates that hold every atom within
    /// `spec.range` (all atoms, or a neighbour-list row).
    ///
    /// - Parameters:
    ///   - agent: index of the agent atom.
    ///   - positions: positions of all atoms in Å (need not be wrapped).
    ///   - species: species index of every atom, in the spec's (model's) species order.
    ///   - box: the periodic box.
    ///   - candidates: indices of candidate neighbours (see the type's comment).
    /// - Throws: `MLDError.numerical` naming the agent if fewer than n_B atoms of some species B
    ///   lie within the `nearest` search radius.
    @inline(__always)
    public func evaluate(agent: Int, positions: UnsafeBufferPointer<SIMD3<Double>>,
                         species: UnsafeBufferPointer<Int32>, box: Box,
                         candidates: UnsafeBufferPointer<Int32>) throws {
        _ = try evaluate(agent: agent, positions: positions, species: species, box: box, candidates: candidates,
                         speciesStarts: nil, buildDistances: nil, skin: 0, listRadius: .infinity)
    }

    /// Evaluates from a neighbour-list row that may be shorter than the `nearest` search radius
    /// (the CPU backend's adaptive list): returns 0 when done, or the list radius in Å that would
    /// be needed to be sure of every n-th nearest neighbour (phi is then incomplete).
    ///
    /// - Parameters:
    ///   - speciesStarts: with a species-split row, where species s starts in `candidates`
    ///     (`speciesCount + 1` entries); nil for an unsorted row.
    ///   - buildDistances: with a species-split row ordered by build-time distance, those
    ///     distances (Å, aligned with `candidates`): the nearest search stops early.
    ///   - skin: the list's skin in Å (a neighbour listed at d0 is now farther than d0 - skin).
    ///   - listRadius: every atom closer than this (Å) is a candidate; must be at least the
    ///     radial and angular cutoffs.
    ///   - buildRadius: every atom within this distance (Å) of the agent when the list was
    ///     built is a candidate (the list's radius plus its skin), or 0. With `displacements`
    ///     every atom now within buildRadius - m_k - (the largest displacement) is then a
    ///     candidate, which may reach past `listRadius` (`certifiedRadius`); `listMargin` tells
    ///     how far from that edge the evaluation stayed.
    ///   - identities: where the caller numbered the atoms its own way, each one's number in the
    ///     original numbering (`AgentNeighbourhood.identities`): the sums then run in ascending
    ///     identity, and errors name the agent by it. Not with `recordsNeighbourGradients`.
    public func evaluate(agent: Int, positions: UnsafeBufferPointer<SIMD3<Double>>,
                         species: UnsafeBufferPointer<Int32>, box: Box,
                         candidates: UnsafeBufferPointer<Int32>,
                         speciesStarts: UnsafePointer<Int>?, buildDistances: UnsafePointer<Float>?,
                         skin: Double, listRadius: Double, buildRadius: Double = 0,
                         displacements: UnsafePointer<Double>? = nil, largestDisplacement: Double = 0,
                         identities: UnsafePointer<Int32>? = nil,
                         identityRanks: UnsafePointer<UInt16>? = nil) throws -> Double {
        precondition(identities == nil || !recordsNeighbourGradients, "neighbour gradients need the caller's numbering")
        termCount = 0
        listMargin = .infinity
        angularGradientsDeferred = false
        let lengths = box.lengths
        let qk = positions[agent]
        // The gather comes first; from a species-split row it selects the nearest atoms as it
        // goes (see `gather`), and `nearest` runs only for a species with too few atoms within
        // the cutoff, or without such a gather.
        let gatherSelects = hasNearest && sumCutoff > 0 && speciesStarts != nil
        if sumCutoff > 0 {
            // With a row ordered by build-time distance d0 (a lower bound, see `NeighbourList`),
            // a listed atom is now at least d0 - m_k - m_j away (m: how far an atom moved since
            // the build, at most `skin` together): the scan of a species stops where that bound
            // passes the cutoff (`movedBound`, as in `selectNearest`).
            let stop = speciesStarts != nil && buildDistances != nil
                ? movedBound(agent: agent, skin: skin, displacements: displacements, largestDisplacement: largestDisplacement)
                : .infinity
            gather(agent: agent, qk: qk, positions: positions, species: species, lengths: lengths,
                   candidates: candidates,
                   speciesStarts: speciesStarts, buildDistances: buildDistances, stop: stop,
                   displacements: stop.isFinite ? displacements : nil,
                   selectNearest: gatherSelects, identities: identities,
                   identityRanks: speciesStarts != nil ? identityRanks : nil)
            // Every atom within the cutoff must be a candidate (any nearest atom the gather
            // selected lies within it too).
            let (certain, moved) = certifiedRadius(agent: agent, listRadius: listRadius, buildRadius: buildRadius,
                                                   skin: skin, displacements: displacements,
                                                   largestDisplacement: largestDisplacement)
            listMargin = buildRadius > 0 ? buildRadius - moved - sumCutoff : .infinity
            if sumCutoff > certain { return sumCutoff }
        }
        if hasNearest {
            var selected = gatherSelects
            if selected { for s in 0..<speciesCount where filled[s] < counts[s] { selected = false } }
            if !selected {
                let margin = listMargin
                let needed = try nearest(agent: agent, qk: qk, positions: positions, species: species, lengths: lengths,
                                         candidates: candidates, speciesStarts: speciesStarts,
                                         buildDistances: buildDistances, skin: skin, listRadius: listRadius,
                                         buildRadius: buildRadius, displacements: displacements,
                                         largestDisplacement: largestDisplacement, identities: identities)
                listMargin = min(listMargin, margin)
                if needed > 0 { return needed }
            }
            nearestInvariants()
            if labelledCount > 0 { labelledAngles() }
        }
        if sumCutoff > 0 {
            if basisCount > 0 { radialSums() }
            if functionCount > 0 {
                if let moments, !usesTripletSums { angularSumsByMoments(moments) } else { angularSumsByTriplets() }
            }
        }
        return 0
    }

    /// Distance in Å of the atom behind `nearest` invariant `a` after the last `evaluate`.
    public func nearestDistance(_ a: Int) -> Double { slots[a].w.squareRoot() }

    // MARK: Neighbour terms

    /// `local` numbers the neighbour within this evaluation: nearest slot s is s, gathered
    /// neighbour m is `nearestCount + m` (an atom may have two numbers; sums over them are right).
    @inline(__always)
    private func record(_ a: Int, _ local: Int, _ j: Int32, _ g: SIMD3<Double>) {
        if termCount == termCapacity { growTerms() }
        termAtom[termCount] = j
        termInvariant[termCount] = Int32(a)
        termLocal[termCount] = Int32(local)
        termGradient[termCount] = g
        termCount += 1
    }

    /// The local neighbour number of term t (see `record`, `localAtom`).
    @inline(__always)
    public func termLocalIndex(_ t: Int) -> Int32 { termLocal[t] }

    /// Number of local neighbour numbers after the last `evaluate` (see `record`).
    public var localCount: Int { nearestCount + gathered }

    /// The atom behind local neighbour number `l`.
    @inline(__always)
    public func localAtom(_ l: Int) -> Int32 { l < nearestCount ? slotAtom[l] : gAtom[l - nearestCount] }

    /// With `recordsNeighbourGradients`, after `evaluate`: sum_a c_a dphi_a/dq_j for every
    /// neighbour j, for coefficients `c` (length P), accumulated per local neighbour number into
    /// `out` (length `localCount`, overwritten). With c = -dH/dphi this is the force that the
    /// agent's loss puts on its neighbours (eV/Å).
    public func contract(_ c: UnsafePointer<Double>, into out: UnsafeMutablePointer<SIMD3<Double>>) {
        for l in 0..<localCount { out[l] = .zero }
        for t in 0..<termCount {
            out[Int(termLocal[t])] += c[Int(termInvariant[t])] * termGradient[t]
        }
    }

    private func growTerms() {
        let c = 2 * termCapacity
        let a = UnsafeMutablePointer<Int32>.allocate(capacity: c), b = UnsafeMutablePointer<Int32>.allocate(capacity: c)
        let g = UnsafeMutablePointer<SIMD3<Double>>.allocate(capacity: c)
        let l = UnsafeMutablePointer<Int32>.allocate(capacity: c)
        a.update(from: termAtom, count: termCount); b.update(from: termInvariant, count: termCount)
        g.update(from: termGradient, count: termCount); l.update(from: termLocal, count: termCount)
        termAtom.deallocate(); termInvariant.deallocate(); termGradient.deallocate(); termLocal.deallocate()
        termAtom = a; termInvariant = b; termGradient = g; termLocal = l
        termCapacity = c
    }

    // MARK: Nearest distances

    /// Selects the nearest atoms of every species (`selectNearest`) and answers 0 when every one
    /// is certain, else the list radius in Å that would make it so; throws when the search radius
    /// holds too few atoms of some species. Sets `listMargin` (see `evaluate`).
    @inline(__always)
    func nearest(agent: Int, qk: SIMD3<Double>, positions: UnsafeBufferPointer<SIMD3<Double>>,
                 species: UnsafeBufferPointer<Int32>, lengths: SIMD3<Double>,
                 candidates: UnsafeBufferPointer<Int32>, speciesStarts: UnsafePointer<Int>?,
                 buildDistances: UnsafePointer<Float>?, skin: Double, listRadius: Double, buildRadius: Double = 0,
                 displacements: UnsafePointer<Double>?, largestDisplacement: Double,
                 identities: UnsafePointer<Int32>? = nil) throws -> Double {
        selectNearest(agent: agent, qk: qk, positions: positions, species: species, lengths: lengths,
                      candidates: candidates, speciesStarts: speciesStarts, buildDistances: buildDistances, skin: skin,
                      displacements: displacements, largestDisplacement: largestDisplacement, identities: identities)
        let (certain, moved) = certifiedRadius(agent: agent, listRadius: listRadius, buildRadius: buildRadius,
                                               skin: skin, displacements: displacements,
                                               largestDisplacement: largestDisplacement)
        var needed = 0.0, reached = 0.0
        for s in 0..<speciesCount where counts[s] > 0 {
            let short = filled[s] < counts[s]
            let far = short ? Double.infinity : slots[starts[s] + counts[s] - 1].w.squareRoot()
            reached = max(reached, min(far, searchRadius))
            if !short && far <= certain { continue }
            if short && certain >= searchRadius {
                throw MLDError.numerical(String(
                    format: "agent %d (%@): only %d %@ atoms within the search radius %.3f Å, %d needed",
                    identities.map { Int($0[agent]) } ?? agent, spec.species[Int(species[agent])], filled[s],
                    spec.species[s], searchRadius, counts[s]))
            }
            needed = max(needed, min(far, searchRadius))
        }
        listMargin = buildRadius > 0 ? buildRadius - moved - reached : .infinity
        return needed
    }

    /// The radius (Å) within which every atom is surely a candidate now, and the bound on m_k + m_j
    /// it allowed for (`movedBound`): `listRadius`, or with `displacements` and a `buildRadius`
    /// (the list's reach at its build) buildRadius less that bound, if larger. A listed-or-not
    /// atom j now at distance r was at most r + m_k + m_j away at the build, so every atom now
    /// within buildRadius - m_k - m_j was listed.
    @inline(__always)
    private func certifiedRadius(agent: Int, listRadius: Double, buildRadius: Double, skin: Double,
                                 displacements: UnsafePointer<Double>?,
                                 largestDisplacement: Double) -> (radius: Double, moved: Double) {
        let moved = movedBound(agent: agent, skin: skin, displacements: displacements,
                               largestDisplacement: largestDisplacement)
        return (displacements != nil ? max(listRadius, buildRadius - moved) : listRadius, moved)
    }

    /// After `evaluate` or `nearest` with a `buildRadius`: how much nearer (Å) than the edge of
    /// the certain neighbourhood (`certifiedRadius`, taken as buildRadius less the agent's bound
    /// on m_k + m_j) the farthest distance the agent's result depends on lay (its n-th nearest
    /// neighbours, or a cutoff); negative when the list could not decide. A backend keeps its list
    /// while every agent's margin exceeds what a step's motion can take from it.
    public private(set) var listMargin = Double.infinity

    /// Bounds on list distances are widened by a relative 1e-12 and 1e-12 Å, far above the
    /// rounding of the distances they compare, so a skipped atom is always one the exact test
    /// would reject.
    static let boundSlack = 1 + 1e-12
    static let boundPad = 1e-12

    /// An upper bound in Å on m_k + m_j, how far the agent k and any listed atom j together moved
    /// since the list was built: `skin`, or with the atoms' `displacements` the agent's own plus the
    /// largest (widened by `boundSlack` and `boundPad`), whichever is smaller.
    @inline(__always)
    private func movedBound(agent: Int, skin: Double, displacements: UnsafePointer<Double>?,
                            largestDisplacement: Double) -> Double {
        guard let displacements else { return skin }
        return min(skin, (displacements[agent] + largestDisplacement) * Self.boundSlack + Self.boundPad)
    }

    /// Keeps the counts[s] nearest of each species within the search radius, sorted by r². Ties:
    /// from any candidates, in ascending identity (the atom's index, or its number in
    /// `identities`), so that the candidates' order changes nothing; from a species-split row, in
    /// the row's order (an atom enters only if strictly nearer than the farthest held one).
    ///
    /// With a species-split row ordered by build-time distance d0, a listed atom j is now at
    /// least d0 - m_k - m_j away, where m_i is how far atom i moved since the build
    /// (`displacements`, else the list's `skin` stands for m_k + m_j). An atom whose bound exceeds
    /// the n-th nearest distance found so far cannot enter and is skipped without computing its
    /// distance, and the scan stops at the first d0 - m_k - (the largest displacement) beyond it.
    /// Skipped atoms are exactly those the insertion would reject, so the selection is the same
    /// bits with or without the displacements.
    @inline(__always)
    private func selectNearest(agent: Int, qk: SIMD3<Double>, positions: UnsafeBufferPointer<SIMD3<Double>>,
                               species: UnsafeBufferPointer<Int32>, lengths: SIMD3<Double>,
                               candidates: UnsafeBufferPointer<Int32>, speciesStarts: UnsafePointer<Int>?,
                               buildDistances: UnsafePointer<Float>?, skin: Double,
                               displacements: UnsafePointer<Double>? = nil, largestDisplacement: Double = 0,
                               identities: UnsafePointer<Int32>? = nil) {
        let S = speciesCount
        let pos = positions.baseAddress!
        let cand = candidates.baseAddress
        for s in 0..<S { filled[s] = 0 }
        if let speciesStarts {
            let slack = Self.boundSlack, pad = Self.boundPad
            let own = displacements.map { $0[agent] } ?? 0
            let stop = movedBound(agent: agent, skin: skin, displacements: displacements,
                                  largestDisplacement: largestDisplacement)
            // Four-lane copies (the fourth lane means nothing; `lanes4(lengths:)` says why it is
            // not a constant) so that the displacements stay in one register.
            let (lengths4, inverseLengths4) = lanes4(lengths: lengths)
            let qk4 = SIMD4(qk, qk.x)
            guard let cand else { return }   // no candidates: nothing is held
            // A species-split row: one insertion selection per species, in two phases. Until
            // counts[s] atoms are held every atom within the search radius goes in; after that
            // only an atom nearer than the farthest held one, and, with build-time distances, the
            // bounds above skip atoms or end the scan.
            for s in 0..<S {
                let c = counts[s]
                if c == 0 { continue }
                let base = slots + starts[s], atoms = slotAtom + starts[s]
                var t = speciesStarts[s]
                let end = speciesStarts[s + 1]
                /// The displacement to atom j (minimumImage, with the quotient rounded from
                /// d * (1/L): the same image wherever the two could differ, at |d| = L/2, beyond
                /// the search radius) and its square.
                @inline(__always) func separation(_ j: Int32) -> (d: SIMD4<Double>, r2: Double) {
                    MLD.separation(lanes4(pos, Int(j)), from: qk4, lengths: lengths4, inverseLengths: inverseLengths4)
                }
                @inline(__always) func insert(_ j: Int32, _ d: SIMD4<Double>, _ r2: Double, from: Int) {
                    Self.insertNearest(j, d, r2, from: from, slots: base, atoms: atoms)
                }
                // Filling.
                var m = 0
                while t < end && m < c {
                    let j = cand[t]
                    t &+= 1
                    if Int(j) == agent { continue }
                    let (d, r2) = separation(j)
                    if r2 > searchRadius2 { continue }
                    insert(j, d, r2, from: m)
                    m += 1
                }
                filled[s] = m
                if m < c { continue }
                // Full: only atoms nearer than the farthest held one (at `worst`, Å²) enter.
                var worst = base[c - 1].w
                var bound = worst.squareRoot()
                @inline(__always) func offer(_ j: Int32) {
                    if Int(j) == agent { return }
                    let (d, r2) = separation(j)
                    if r2 > worst || r2 == worst { return }
                    insert(j, d, r2, from: c - 1)
                    worst = base[c - 1].w
                    bound = worst.squareRoot()
                }
                if let d0 = buildDistances, let displacements {
                    while t < end {
                        let reach = Double(d0[t]) - bound
                        if reach > stop { break }
                        let j = cand[t]
                        t &+= 1
                        if reach > (own + displacements[Int(j)]) * slack + pad { continue }
                        offer(j)
                    }
                } else if let d0 = buildDistances {
                    while t < end {
                        if Double(d0[t]) - bound > stop { break }
                        offer(cand[t])
                        t &+= 1
                    }
                } else {
                    while t < end {
                        offer(cand[t])
                        t &+= 1
                    }
                }
            }
            return
        }
        selectNearest(agent: agent, qk: qk, positions: positions, species: species, lengths: lengths,
                      anyCandidates: candidates, identities: identities)
    }

    /// `selectNearest` from any candidates: species by species through the slots, ties in ascending
    /// identity.
    private func selectNearest(agent: Int, qk: SIMD3<Double>, positions: UnsafeBufferPointer<SIMD3<Double>>,
                               species: UnsafeBufferPointer<Int32>, lengths: SIMD3<Double>,
                               anyCandidates candidates: UnsafeBufferPointer<Int32>, identities: UnsafePointer<Int32>?) {
        let pos = positions.baseAddress!, sp = species.baseAddress!
        for jj in candidates {
            let j = Int(jj)
            if j == agent { continue }
            let s = Int(sp[j])
            let n = counts[s]
            if n == 0 { continue }
            let d = minimumImage(pos[j] - qk, lengths: lengths)
            let r2 = (d * d).sum()
            if r2 > searchRadius2 { continue }
            let base = slots + starts[s], atoms = slotAtom + starts[s]
            // whether atom j goes before the one held in slot i: nearer, or as near and of
            // smaller identity
            func before(_ i: Int) -> Bool {
                r2 < base[i].w || (r2 == base[i].w && Self.precedes(jj, atoms[i], identities))
            }
            var c = filled[s]
            if c == n {
                if !before(n - 1) { continue }
                c = n - 1
            } else {
                filled[s] = c + 1
            }
            while c > 0 && before(c - 1) {
                base[c] = base[c - 1]; atoms[c] = atoms[c - 1]
                c -= 1
            }
            base[c] = SIMD4(d, r2); atoms[c] = jj
        }
    }

    /// Whether atom a comes before atom b among neighbours at the same distance: by identity (the
    /// number in `identities` where the caller renumbered the atoms, else the index).
    @inline(__always)
    private static func precedes(_ a: Int32, _ b: Int32, _ identities: UnsafePointer<Int32>?) -> Bool {
        guard let identities else { return a < b }
        return identities[Int(a)] < identities[Int(b)]
    }

    /// Puts atom j at squared distance r2 (Å²), displacement d (Å, lanes 0-2), into its place
    /// among the first `from + 1` slots sorted by r², after any held at the same r², moving the
    /// farther ones up by one (the slot at `from` is overwritten).
    @inline(__always)
    private static func insertNearest(_ j: Int32, _ d: SIMD4<Double>, _ r2: Double, from: Int,
                                      slots: UnsafeMutablePointer<SIMD4<Double>>, atoms: UnsafeMutablePointer<Int32>) {
        var i = from
        while i > 0 && slots[i &- 1].w > r2 {
            slots[i] = slots[i &- 1]; atoms[i] = atoms[i &- 1]
            i &-= 1
        }
        var v = d
        v.w = r2
        slots[i] = v; atoms[i] = j
    }

    /// phi = t(r) of the selected distances; dr/dq_k = -d/r, dr/dq_j = d/r.
    @inline(__always)
    private func nearestInvariants() {
        let rec = recordsNeighbourGradients
        var a = 0
        if !rec && !inverse {
            // Four slots at a time: one vector square root and division (the same values).
            let out = UnsafeMutableRawPointer(phi.baseAddress!)
            while a &+ 4 <= nearestCount {
                let v0 = slots[a], v1 = slots[a &+ 1], v2 = slots[a &+ 2], v3 = slots[a &+ 3]
                let r = SIMD4(v0.w, v1.w, v2.w, v3.w).squareRoot()
                let reciprocal = 1 / r
                out.storeBytes(of: r, toByteOffset: a &* 8, as: SIMD4<Double>.self)
                gradient[a] = -(SIMD3(v0.x, v0.y, v0.z) * reciprocal[0])
                gradient[a &+ 1] = -(SIMD3(v1.x, v1.y, v1.z) * reciprocal[1])
                gradient[a &+ 2] = -(SIMD3(v2.x, v2.y, v2.z) * reciprocal[2])
                gradient[a &+ 3] = -(SIMD3(v3.x, v3.y, v3.z) * reciprocal[3])
                a &+= 4
            }
        }
        while a < nearestCount {
            defer { a &+= 1 }
            let v = slots[a]
            let r = v.w.squareRoot()
            let d = SIMD3(v.x, v.y, v.z)
            let g: SIMD3<Double>      // dphi/dq_j
            if inverse {
                let ir = 1 / r
                phi[a] = ir
                g = d * (-ir * ir * ir)
            } else {
                phi[a] = r
                g = d * (1 / r)
            }
            gradient[a] = -g
            if rec { record(a, a, slotAtom[a], g) }
        }
    }

    /// Whether the spec is one `nearest` block alone (the paper's distance-only model): then
    /// `nearestLoss` gives the loss and force straight from the selection.
    public var isNearestOnly: Bool { hasNearest && count == nearestCount }

    /// For a spec of one `nearest` block with at most 16 invariants, after `nearest` returned 0:
    /// phi and dphi/dq_k (as `nearestInvariants`), and the quadratic loss H and the force
    /// F = -sum_a g_a dphi_a/dq_k with g = w + W phi, in one pass. `W16` holds W row by row in four
    /// SIMD4 per row (row b is `W16[4 b ..< 4 b + 4]`, zero past column P); the products are added
    /// in the order of `QuadraticLoss.lossAndForce`, so the result is the same bits. On return
    /// `g` (length P) holds dH/dphi.
    @inline(__always)
    func nearestLoss(W16: UnsafePointer<SIMD4<Double>>, w wp: UnsafePointer<Double>,
                     g: UnsafeMutablePointer<Double>) -> (force: SIMD3<Double>, loss: Double) {
        termCount = 0
        let p = nearestCount
        var g0 = SIMD4<Double>.zero, g1 = SIMD4<Double>.zero, g2 = SIMD4<Double>.zero, g3 = SIMD4<Double>.zero
        let ph = phi.baseAddress!, gr = gradient.baseAddress!
        // Slot a's phi and dphi/dq_k, and phi_a times row a of W added to g, from the slot
        // (d, r²: the lanes of d go through in a SIMD4, the fourth means nothing), r and 1/r.
        @inline(__always) func term(_ a: Int, _ v: SIMD4<Double>, _ r: Double, _ ir: Double, inverse: Bool) {
            let x: Double, gj: SIMD4<Double>      // phi_a and dphi_a/dq_j
            if inverse {
                x = ir
                gj = v * (-ir * ir * ir)
            } else {
                x = r
                gj = v * ir
            }
            ph[a] = x
            storeLanes4(-gj, gr, a)
            let xv = SIMD4<Double>(repeating: x), row = W16 + 4 &* a
            g0 += xv * row[0]; g1 += xv * row[1]; g2 += xv * row[2]; g3 += xv * row[3]
        }
        // Four slots at a time: one vector square root and division instead of four of each
        // (correctly rounded either way: the same values), the terms then added in slot order.
        // The transform is fixed per loop, so the loops carry no branch on it.
        @inline(__always) func terms(inverse: Bool) {
            var a = 0
            while a &+ 4 <= p {
                let v0 = slots[a], v1 = slots[a &+ 1], v2 = slots[a &+ 2], v3 = slots[a &+ 3]
                let r = SIMD4(v0.w, v1.w, v2.w, v3.w).squareRoot()
                let ir = 1 / r
                term(a, v0, r[0], ir[0], inverse: inverse)
                term(a &+ 1, v1, r[1], ir[1], inverse: inverse)
                term(a &+ 2, v2, r[2], ir[2], inverse: inverse)
                term(a &+ 3, v3, r[3], ir[3], inverse: inverse)
                a &+= 4
            }
            while a < p {
                let v = slots[a]
                let r = v.w.squareRoot()
                term(a, v, r, 1 / r, inverse: inverse)
                a &+= 1
            }
        }
        if inverse { terms(inverse: true) } else { terms(inverse: false) }
        return withUnsafeTemporaryAllocation(of: SIMD4<Double>.self, capacity: 4) { gv in
            gv[0] = g0; gv[1] = g1; gv[2] = g2; gv[3] = g3
            return QuadraticLoss.lossAndForce(count: p, rowSums: UnsafeRawPointer(gv.baseAddress!).assumingMemoryBound(to: Double.self),
                                              phi: ph, dphi: gr, g: g, wp: wp)
        }
    }

    // MARK: Labelled angles

    /// cos theta = d1.d2 / (r1 r2), d_i = q_i - q_k; dcos/dd1 = d2/(r1 r2) - cos d1/r1².
    @inline(__always)
    private func labelledAngles() {
        let rec = recordsNeighbourGradients
        for i in 0..<labelledCount {
            let s1 = labelledSlots[2 * i], s2 = labelledSlots[2 * i + 1]
            let v1 = slots[s1], v2 = slots[s2]
            let d1 = SIMD3(v1.x, v1.y, v1.z), d2 = SIMD3(v2.x, v2.y, v2.z)
            let r1 = v1.w.squareRoot(), r2 = v2.w.squareRoot()
            let inv = 1 / (r1 * r2)
            let c = (d1 * d2).sum() * inv
            let g1 = d2 * inv - d1 * (c / v1.w)
            let g2 = d1 * inv - d2 * (c / v2.w)
            let a = labelledOffset + i
            phi[a] = c
            gradient[a] = -(g1 + g2)
            if rec { record(a, s1, slotAtom[s1], g1); record(a, s2, slotAtom[s2], g2) }
        }
    }

    // MARK: Sums over the neighbours within a cutoff

    private func growGather() {
        let c = 2 * gatherCapacity, f = max(functionCount, 1)
        let a = UnsafeMutablePointer<Int32>.allocate(capacity: c + 8), s = UnsafeMutablePointer<Int32>.allocate(capacity: c)
        a.initialize(repeating: 0, count: c + 8)
        let d = UnsafeMutablePointer<SIMD4<Double>>.allocate(capacity: c)
        a.update(from: gAtom, count: gatherCapacity); s.update(from: gSpecies, count: gatherCapacity)
        d.update(from: gDisp, count: gatherCapacity)
        gAtom.deallocate(); gSpecies.deallocate(); gDisp.deallocate()
        gRadial.deallocate(); gRadialDerivative.deallocate(); gInside.deallocate()
        gAtom = a; gSpecies = s; gDisp = d
        // the places of the species runs ranked so far survive a growth in the middle of a gather
        let k = UnsafeMutablePointer<Int32>.allocate(capacity: c + 8)
        k.initialize(repeating: 0, count: c + 8)
        k.update(from: gRank, count: gatherCapacity)
        gRank.deallocate()
        gAtomSpare.deallocate(); gSpeciesSpare.deallocate(); gDispSpare.deallocate()
        gRank = k
        gAtomSpare = .allocate(capacity: c + 8)
        gAtomSpare.initialize(repeating: 0, count: c + 8)
        gSpeciesSpare = .allocate(capacity: c); gDispSpare = .allocate(capacity: c)
        gInside = .allocate(capacity: c)
        gRadial = .allocate(capacity: c * f)
        gRadialDerivative = .allocate(capacity: c * f)
        mMono.deallocate(); mPowers.deallocate()
        mMono = .allocate(capacity: c * max(moments?.monomialStride ?? 1, 1))
        mPowers = .allocate(capacity: c * 3 * ((moments?.rank ?? 0) + 2))
        gatherCapacity = c
    }

    /// Room for a segment of `length` neighbours at their identity ranks (the bits all clear).
    private func growSparse(_ length: Int) {
        let c = max(length, 2 * sparseCapacity, 64), words = (c + 63) / 64
        sparseAtom.deallocate(); sparseDisp.deallocate(); sparseBits.deallocate()
        sparseAtom = .allocate(capacity: c)
        sparseDisp = .allocate(capacity: c)
        sparseBits = .allocate(capacity: words)
        sparseBits.initialize(repeating: 0, count: words)
        sparseCapacity = c
    }

    private var gathered = 0
    /// After a gather from a species-split row (`gatheredRunsValid`), species s's neighbours are
    /// `gatheredRuns[s] ..< gatheredRuns[s + 1]`; after any other gather the species are mixed.
    private var gatheredRunsValid = false
    private let gatheredRuns: UnsafeMutablePointer<Int>

    /// Collects the neighbours within the largest sum cutoff, in ascending atom index (within each
    /// species for a species-split row), so that sums depend neither on the list's history nor on
    /// the order of the candidates. With `identities` the gathered atoms (`gAtom`) are their
    /// identities, and the order is theirs: the same sums whatever numbering the caller works in.
    ///
    /// With `selectNearest` (a species-split row only) it also keeps, species by species, the
    /// counts[s] nearest of the gathered atoms in the slots, offered in the row's order with the
    /// insertion rules of `selectNearest` (`filled[s]` says how many it holds). Where that is
    /// counts[s], they are the counts[s] nearest of all: every atom of the species within the
    /// cutoff was offered, and each held one is nearer than any atom beyond it; same
    /// displacements, same order, same ties as `selectNearest` on the same row.
    @inline(__always)
    private func gather(agent: Int, qk: SIMD3<Double>, positions: UnsafeBufferPointer<SIMD3<Double>>,
                        species: UnsafeBufferPointer<Int32>, lengths: SIMD3<Double>,
                        candidates: UnsafeBufferPointer<Int32>,
                        speciesStarts: UnsafePointer<Int>? = nil, buildDistances: UnsafePointer<Float>? = nil,
                        stop: Double = .infinity, displacements: UnsafePointer<Double>? = nil,
                        selectNearest select: Bool = false,
                        identities: UnsafePointer<Int32>? = nil,
                        identityRanks ranks: UnsafePointer<UInt16>? = nil) {
        let rc2 = sumCutoff * sumCutoff
        let pos = positions.baseAddress!
        // four-lane copies, the fourth lane padding (see `selectNearest`)
        let (lengths4, inverse4) = lanes4(lengths: lengths), qk4 = SIMD4(qk, qk.x)
        let cand = candidates.baseAddress!
        // The buffers in locals (the class's fields would be reloaded after every store), taken
        // again after a growth.
        var atoms = gAtom, speciesOut = gSpecies, disp = gDisp, capacity = gatherCapacity
        var sparseAtoms = sparseAtom, sparseDisps = sparseDisp, bits = sparseBits
        let sp = species.baseAddress!
        var m = 0
        // The nearest selection of the species being gathered (see above): up to `want` slots
        // from `base`, `held` of them filled, the farthest held at r² = `worst` once full.
        var want = 0, held = 0, worst = 0.0
        var base = slots, slotAtoms = slotAtom
        let rs2 = searchRadius2
        @inline(__always) func hold(_ j: Int32, _ d: SIMD4<Double>, _ r2: Double) {
            if r2 > rs2 { return }
            var i: Int
            if held < want {
                i = held
                held &+= 1
            } else {
                if !(r2 < worst) { return }
                i = want &- 1
            }
            Self.insertNearest(j, d, r2, from: i, slots: base, atoms: slotAtoms)
            if held == want { worst = base[want &- 1].w }
        }
        @inline(__always) func take(_ t: Int) {
            let jj = cand[t]
            let j = Int(jj)
            if j == agent { return }
            let (d, r2) = separation(lanes4(pos, j), from: qk4, lengths: lengths4, inverseLengths: inverse4)
            if r2 >= rc2 { return }
            if want > 0 { hold(jj, d, r2) }
            var v = d
            v.w = r2.squareRoot()
            // the rank key (`rankRun`): the atom's identity where the caller renumbered
            let key = identities.map { $0[j] } ?? jj
            if let ranks {
                // at its place in the segment's identity order, collected after the segment
                let k = Int(ranks[t])
                sparseAtoms[k] = key
                sparseDisps[k] = v
                bits[k &>> 6] |= 1 &<< UInt64(truncatingIfNeeded: k & 63)
            } else {
                if m == capacity {
                    growGather()
                    atoms = gAtom; speciesOut = gSpecies; disp = gDisp; capacity = gatherCapacity
                }
                atoms[m] = key
                speciesOut[m] = sp[j]
                disp[m] = v
            }
            m &+= 1
        }
        if let speciesStarts {
            // A species-split row: the gathered neighbours come species by species, and each
            // species' run is sorted on its own (the order within a species is all the sums use).
            let limit = sumCutoff + stop
            var runStart = 0
            gatheredRuns[0] = 0
            for s in 0..<speciesCount {
                var t = speciesStarts[s]
                let end = speciesStarts[s + 1]
                if select {
                    want = counts[s]; held = 0; worst = 0
                    base = slots + starts[s]; slotAtoms = slotAtom + starts[s]
                }
                defer { if select { filled[s] = held } }
                if ranks != nil {
                    // room for the whole segment, in the dense arrays and at its ranks
                    let length = end &- t
                    while m &+ length > capacity {
                        growGather()
                        atoms = gAtom; speciesOut = gSpecies; disp = gDisp; capacity = gatherCapacity
                    }
                    if length > sparseCapacity {
                        growSparse(length)
                        sparseAtoms = sparseAtom; sparseDisps = sparseDisp; bits = sparseBits
                    }
                }
                if let d0 = buildDistances, stop.isFinite, let displacements {
                    // Up to the cutoff plus the agent's own bound every atom may be inside; past
                    // it, an atom whose d0 - cutoff exceeds m_k + m_j (widened as in
                    // `selectNearest`) is now beyond the cutoff, which `take` would find at the
                    // cost of its separation: it is skipped (the same atoms are gathered).
                    let own = displacements[agent]
                    let sure = sumCutoff + own * Self.boundSlack + Self.boundPad
                    while t < end && Double(d0[t]) <= sure { take(t); t &+= 1 }
                    while t < end && Double(d0[t]) <= limit {
                        let reach = Double(d0[t]) - sumCutoff
                        if !(reach > (own + displacements[Int(cand[t])]) * Self.boundSlack + Self.boundPad) { take(t) }
                        t &+= 1
                    }
                } else if let d0 = buildDistances, stop.isFinite {
                    while t < end && Double(d0[t]) <= limit { take(t); t &+= 1 }
                } else {
                    while t < end { take(t); t &+= 1 }
                }
                if ranks != nil {
                    // the taken ranks in ascending order: the segment's atoms in ascending identity
                    var p = runStart
                    let words = (end &- speciesStarts[s] &+ 63) &>> 6
                    let species = Int32(truncatingIfNeeded: s)
                    for w in 0..<words {
                        var x = bits[w]
                        bits[w] = 0
                        while x != 0 {
                            let k = w &<< 6 | x.trailingZeroBitCount
                            atoms[p] = sparseAtoms[k]; speciesOut[p] = species; disp[p] = sparseDisps[k]
                            p &+= 1
                            x &= x &- 1
                        }
                    }
                } else {
                    rankRun(runStart, m)
                }
                runStart = m
                gatheredRuns[s + 1] = m
            }
            gathered = m
            gatheredRunsValid = true
            if ranks == nil { permuteGathered() }
        } else {
            for t in 0..<candidates.count { take(t) }
            gathered = m
            gatheredRunsValid = false
            rankRun(0, m)
            permuteGathered()
        }
    }

    /// The place of each gathered neighbour lo..<hi in ascending atom order: lo plus the number
    /// of them with a smaller atom index (the indices are distinct, so the places are a
    /// permutation), counted for eight neighbours at once against each of the run's atoms
    /// (`RankCount`); `permuteGathered` then moves every neighbour to its place. Reads and writes up to 7
    /// entries of `gAtom` and `gRank` past hi (room the allocations keep; a later run overwrites
    /// the ranks).
    @inline(__always)
    private func rankRun(_ lo: Int, _ hi: Int) {
        let n = hi &- lo
        if n == 0 { return }
        let out = UnsafeMutableRawPointer(gRank + lo)
        RankCount.countBelow(gAtom + lo, count: n, base: Int32(truncatingIfNeeded: lo)) { c, count in
            out.storeBytes(of: count, toByteOffset: c &* 4, as: SIMD8<Int32>.self)
        }
    }

    /// Puts the gathered neighbours in the places `rankRun` gave them (one permutation of the
    /// arrays; none when they already are in order).
    @inline(__always)
    private func permuteGathered() {
        let m = gathered
        let rank = gRank
        var sorted = true
        for i in 0..<m where Int(rank[i]) != i { sorted = false; break }
        if sorted { return }
        let a = gAtom, s = gSpecies, d = gDisp, a2 = gAtomSpare, s2 = gSpeciesSpare, d2 = gDispSpare
        for i in 0..<m {
            let to = Int(rank[i])
            a2[to] = a[i]; s2[to] = s[i]; d2[to] = d[i]
        }
        swap(&gAtom, &gAtomSpare); swap(&gSpecies, &gSpeciesSpare); swap(&gDisp, &gDispSpare)
    }

    /// phi[B,n] = sum_j g_n(r) f_c(r) over neighbours of B within the radial cutoff.
    @inline(__always)
    private func radialSums() {
        let o = radialOffset, nb = basisCount
        for a in o..<(o + speciesCount * nb) { phi[a] = 0; gradient[a] = .zero }
        let rc = radialCutoff
        let piOverRc = Double.pi / rc
        let inv2s2 = 1 / (2 * width * width)
        let invS2 = 1 / (width * width)
        let rec = recordsNeighbourGradients
        for m in 0..<gathered {
            let v = gDisp[m]
            let r = v.w
            if r >= rc { continue }
            let d = SIMD3(v.x, v.y, v.z)
            let x = piOverRc * r
            let fc = 0.5 * (1 + cos(x))
            let dfc = -0.5 * piOverRc * sin(x)
            let drdq = d * (1 / r)      // dr/dq_j
            let base = o + Int(gSpecies[m]) * nb
            let lr = gaussian ? 0 : log(r)
            for n in 0..<nb {
                let g: Double, dg: Double
                if gaussian {
                    let u = r - params[n]
                    g = exp(-u * u * inv2s2)
                    dg = -u * invS2 * g
                } else {
                    let p = params[n]
                    g = exp(-p * lr)
                    dg = -p * g / r
                }
                phi[base + n] += g * fc
                let gj = (dg * fc + g * dfc) * drdq
                gradient[base + n] -= gj
                if rec { record(base + n, nearestCount + m, gAtom[m], gj) }
            }
        }
    }

    /// Evaluate the angular sums pair by pair (O(n^2) in the neighbours within the cutoff) even
    /// where the moment-tensor form applies; for tests that check one against the other.
    public var usesTripletSums = false

    /// Let `evaluate` skip the angular sums' own gradients where the moment-tensor form applies
    /// (selfish forces need only their sum weighted by dH/dphi): after `evaluate`,
    /// `angularGradientsDeferred` says whether it did, `gradient` is zero for those invariants, and
    /// `angularOwnGradient(_:)` gives the weighted sum. Ignored when neighbour gradients are
    /// recorded (conservative models need every term).
    public var defersAngularGradients = false

    /// Whether the last `evaluate` left the angular sums' gradients to `angularOwnGradient(_:)`.
    public private(set) var angularGradientsDeferred = false

    /// The angular sums (see `AngularSums`), one unordered neighbour pair at a time: O(n^2) in
    /// the n neighbours within the cutoff. Used for non-integer zeta (and as the tests' oracle).
    @inline(__always)
    private func angularSumsByTriplets() {
        let o = angularOffset, nf = functionCount, S = speciesCount
        let total = S * (S + 1) / 2 * nf
        for a in o..<(o + total) { phi[a] = 0; gradient[a] = .zero }
        let rc = angularCutoff
        let piOverRc = Double.pi / rc
        let rec = recordsNeighbourGradients
        // Per neighbour within the cutoff and function: R = exp(-eta r²) fc(r) and (dR/dr)/r.
        var inside = 0
        for m in 0..<gathered {
            let r = gDisp[m].w
            if r >= rc { continue }
            gInside[inside] = Int32(m)
            let x = piOverRc * r
            let fc = 0.5 * (1 + cos(x))
            let dfc = -0.5 * piOverRc * sin(x)
            for f in 0..<nf {
                let e = exp(-etas[f] * r * r)
                gRadial[inside * nf + f] = e * fc
                gRadialDerivative[inside * nf + f] = (e * dfc - 2 * etas[f] * r * e * fc) / r
            }
            inside += 1
        }
        for j in 0..<inside {
            let mj = Int(gInside[j])
            let vj = gDisp[mj]
            let dj = SIMD3(vj.x, vj.y, vj.z), rj = vj.w
            let sj = Int(gSpecies[mj])
            for l in (j + 1)..<max(inside, j + 1) {
                let ml = Int(gInside[l])
                let vl = gDisp[ml]
                let dl = SIMD3(vl.x, vl.y, vl.z), rl = vl.w
                let sl = Int(gSpecies[ml])
                let (b, c) = sj <= sl ? (sj, sl) : (sl, sj)
                let pair = b * S - b * (b - 1) / 2 + (c - b)
                let inv = 1 / (rj * rl)
                let cosine = (dj * dl).sum() * inv
                // dcos/ddj and dcos/ddl
                let cj = dl * inv - dj * (cosine / (rj * rj))
                let cl = dj * inv - dl * (cosine / (rl * rl))
                let cjl = cj + cl
                for f in 0..<nf {
                    let lam = lambdas[f]
                    let base = 1 + lam * cosine
                    if base <= 0 { continue }
                    var powM1: Double          // base^(zeta - 1)
                    let iz = integerZeta[f]
                    if iz > 0 {
                        powM1 = 1
                        var k = 1
                        while k < iz { powM1 *= base; k += 1 }
                    } else {
                        powM1 = pow(base, zetas[f] - 1)
                    }
                    let A = powM1 * base
                    let dA = zetas[f] * lam * powM1
                    let Rj = gRadial[j * nf + f], Rl = gRadial[l * nf + f]
                    let Dj = gRadialDerivative[j * nf + f], Dl = gRadialDerivative[l * nf + f]
                    let RR = Rj * Rl
                    let a = o + pair * nf + f
                    phi[a] += A * RR
                    // dT/dq_k = -(dT/dq_j + dT/dq_l), with dT/dq_j = dA RR dcos/dd_j + A R_l R'_j d_j / r_j.
                    let s1 = dA * RR, s2 = A * Dj * Rl, s3 = A * Rj * Dl
                    gradient[a] -= s1 * cjl + s2 * dj + s3 * dl
                    if rec {
                        let gj = s1 * cj + s2 * dj, gl = s1 * cl + s3 * dl
                        record(a, nearestCount + mj, gAtom[mj], gj); record(a, nearestCount + ml, gAtom[ml], gl)
                    }
                }
            }
        }
    }

    /// The angular sums (see `AngularSums`) through moment tensors (see `AngularMoments`): O(n) in
    /// the n neighbours within the cutoff. The gradient with respect to neighbour j of species s,
    /// for the pair (s, t), follows from d(R u^alpha)/dd = (R' - m R / r) u^alpha u + (R / r) grad_u u^alpha
    /// (u^alpha is homogeneous of degree m in u = d / r), contracted with the partner's weighted
    /// moments w_alpha M_t[alpha]; a same-species pair also loses the j = l term, R_j R'_j u_j.
    @inline(__always)
    private func angularSumsByMoments(_ t: AngularMoments) {
        let o = angularOffset, nf = functionCount, S = speciesCount
        let total = S * (S + 1) / 2 * nf
        for a in o..<(o + total) { phi[a] = 0; gradient[a] = .zero }
        let rec = recordsNeighbourGradients
        if defersAngularGradients && !rec, let lanes = lanesReference {
            if let single = singleLanesReference {
                single._withUnsafeGuaranteedRef { load($0) }
            } else {
                lanes._withUnsafeGuaranteedRef { load($0) }
            }
            angularSumsFromMoments(t)
            angularGradientsDeferred = true
            return
        }
        let rc = angularCutoff
        let piOverRc = Double.pi / rc
        let K = t.monomialCount, KS = t.monomialStride, E = t.etaCount, L = t.rank, PW = L + 2
        let ea = t.exponentA, eb = t.exponentB, ec = t.exponentC, rs = t.rankStart
        // Per neighbour inside the cutoff: shifted powers (pw[0] = 0, pw[i + 1] = u_x^i; y from PW,
        // z from 2 PW), the monomials u^alpha, and per eta R = exp(-eta r²) fc(r) and dR/dr.
        var inside = 0
        for m in 0..<gathered {
            let v = gDisp[m]
            let r = v.w
            if r >= rc { continue }
            gInside[inside] = Int32(m)
            let u = SIMD3(v.x, v.y, v.z) * (1 / r)
            let pw = mPowers + inside * 3 * PW
            pw[0] = 0; pw[PW] = 0; pw[2 * PW] = 0
            pw[1] = 1; pw[PW + 1] = 1; pw[2 * PW + 1] = 1
            for i in 1...L {
                pw[i + 1] = pw[i] * u.x; pw[PW + i + 1] = pw[PW + i] * u.y; pw[2 * PW + i + 1] = pw[2 * PW + i] * u.z
            }
            let mono = mMono + inside &* KS
            for k in 0..<K { mono[k] = pw[ea[k] &+ 1] * pw[PW &+ eb[k] &+ 1] * pw[2 &* PW &+ ec[k] &+ 1] }
            for k in K..<KS { mono[k] = 0 }
            let x = piOverRc * r
            let fc = 0.5 * (1 + cos(x))
            let dfc = -0.5 * piOverRc * sin(x)
            for e in 0..<E {
                let eta = t.etas[e]
                let ex = exp(-eta * r * r)
                gRadial[inside * E + e] = ex * fc
                gRadialDerivative[inside * E + e] = ex * dfc - 2 * eta * r * ex * fc
            }
            inside += 1
        }
        // Moments per eta and species.
        let M = t.moments, diag = t.diagonal
        for i in 0..<(E * S * KS) { M[i] = 0 }
        for i in 0..<(E * S) { diag[i] = 0 }
        for j in 0..<inside {
            let s = Int(gSpecies[Int(gInside[j])])
            let mono = mMono + j &* KS
            for e in 0..<E {
                let R = gRadial[j * E + e]
                diag[e * S + s] += R * R
                let row = M + (e * S + s) * KS
                for k in 0..<K { row[k] += R * mono[k] }
            }
        }
        angularSumsFromMoments(t)
        // Gradients, partner species by partner species.
        let wM = t.weighted
        for e in 0..<E {
            for tt in 0..<S {
                t.loadPartner(eta: e, species: tt, speciesCount: S)
                let gx = t.shiftedX, gy = t.shiftedY, gz = t.shiftedZ
                for j in 0..<inside {
                    let mj = Int(gInside[j])
                    let sj = Int(gSpecies[mj])
                    let pair = t.pairIndex(sj, tt, speciesCount: S)
                    let v = gDisp[mj]
                    let r = v.w
                    let invR = 1 / r
                    let u = SIMD3(v.x, v.y, v.z) * invR
                    let R = gRadial[j * E + e], D = gRadialDerivative[j * E + e]
                    let mono = mMono + j &* KS
                    // Lane m: S_m = sum over rank m of w M_t u^alpha, and V_m = its u gradient,
                    // a contraction with the monomials of rank m - 1.
                    var Sn = SIMD8<Double>(repeating: 0)
                    var Vx = SIMD8<Double>(repeating: 0), Vy = SIMD8<Double>(repeating: 0), Vz = SIMD8<Double>(repeating: 0)
                    for n in 0..<L {
                        var sN = 0.0, nx = 0.0, ny = 0.0, nz = 0.0
                        var k = rs[n]
                        let end = rs[n &+ 1]
                        while k < end {
                            let mk = mono[k]
                            sN += wM[k] * mk; nx += gx[k] * mk; ny += gy[k] * mk; nz += gz[k] * mk
                            k &+= 1
                        }
                        Sn[n] = sN; Vx[n &+ 1] = nx; Vy[n &+ 1] = ny; Vz[n &+ 1] = nz
                    }
                    var sL = 0.0
                    var k = rs[L]
                    while k < K { sL += wM[k] * mono[k]; k &+= 1 }
                    Sn[L] = sL
                    let radial = D - (R * invR) * t.rankVector
                    let SR = Sn * radial
                    for f in 0..<nf where t.etaOfFunction[f] == e {
                        let cf = t.coefficientVector[f]
                        var A = (cf * SR).sum()
                        let V = SIMD3((cf * Vx).sum(), (cf * Vy).sum(), (cf * Vz).sum())
                        if sj == tt { A -= t.coefficientSum[f] * R * D }
                        let g = A * u + (R * invR) * V
                        let a = o + pair * nf + f
                        gradient[a] -= g
                        if rec { record(a, nearestCount + mj, gAtom[mj], g) }
                    }
                }
            }
        }
    }

    /// The gathered neighbours into `lanes`, with their radial factors, monomials and moments.
    @inline(__always)
    private func load<Lane: AngularLane>(_ lanes: AngularLanes<Lane>) {
        if gatheredRunsValid && sumCutoff == angularCutoff {
            // the gather kept only neighbours with r² < cutoff²
            lanes.loadPacked(displacements: gDisp, runs: gatheredRuns)
        } else {
            lanes.load(count: gathered, displacements: gDisp, species: gSpecies,
                       runs: gatheredRunsValid ? UnsafePointer(gatheredRuns) : nil)
        }
    }

    /// The angular sums phi from the moments `t.moments` and `t.diagonal` of the last
    /// neighbourhood: function f's sum over species pair (B, C) is sum_alpha T_f[alpha] M_B[alpha]
    /// M_C[alpha] (`AngularMoments.functionWeights`), for B = C less its j = l terms and halved.
    @inline(__always)
    private func angularSumsFromMoments(_ t: AngularMoments) {
        switch t.rank {
        case 1: angularSumsFromMoments(t, Count1.self)
        case 2: angularSumsFromMoments(t, Count2.self)
        case 3: angularSumsFromMoments(t, Count3.self)
        case 4: angularSumsFromMoments(t, Count4.self)
        default: angularSumsFromMoments(t, DynamicCount.self)
        }
    }

    /// The same, specialised per rank (four monomials at a time, a constant count of them up to
    /// rank 4).
    private func angularSumsFromMoments<R: StaticCount>(_ t: AngularMoments, _: R.Type) {
        let o = angularOffset, nf = functionCount, S = speciesCount
        let L = R.value ?? t.rank, nb = (AngularLanes<SIMD4<Double>>.rankStart(L &+ 1) &+ 3) / 4
        let E = t.etaCount
        let M = t.momentBlocks, diag = t.diagonal, T = t.functionWeights, etaOf = t.etaOfFunction
        let product = t.pairProduct
        if R.value == 3 {
            // T_f[alpha] = C(zeta_f, m) lambda_f^m w_alpha for alpha of rank m: the products
            // w_alpha M_B[alpha] M_C[alpha] summed rank by rank (P_m), then per function the sum
            // over m of C(zeta_f, m) lambda_f^m P_m, four functions at a time with one eta.
            let W = t.weightBlocks, cv = t.coefficientVector, columns = t.rankColumns, groupSums = t.groupSums
            let coefficientSum = t.coefficientSum
            let w0 = W[0], w1 = W[1], w2 = W[2], w3 = W[3], w4 = W[4]
            let base = phi.baseAddress! + o
            for e in 0..<E {
                var pair = 0
                for b in 0..<S {
                    let mb = M + (e &* S &+ b) &* 5
                    let d = diag[e &* S &+ b]
                    for c in b..<S {
                        let mc = M + (e &* S &+ c) &* 5
                        let P = AngularMoments.rankSums3(w0 * mb[0] * mc[0], w1 * mb[1] * mc[1], w2 * mb[2] * mc[2],
                                                         w3 * mb[3] * mc[3], w4 * mb[4] * mc[4])
                        let out = base + pair &* nf
                        let same = b == c
                        if E == 1 {
                            var f = 0
                            while f < nf {
                                let col = columns + f
                                var v = P.x * col[0]
                                v = VectorMath.mulAdd(P.y, col[1], v)
                                v = VectorMath.mulAdd(P.z, col[2], v)
                                v = VectorMath.mulAdd(P.w, col[3], v)
                                if same { v = 0.5 * (v - groupSums[f / 4] * d) }
                                if f &+ 4 <= nf {
                                    UnsafeMutableRawPointer(out + f).storeBytes(of: v, as: SIMD4<Double>.self)
                                } else {
                                    for i in 0..<(nf &- f) { out[f &+ i] = v[i] }
                                }
                                f &+= 4
                            }
                        } else {
                            for f in 0..<nf where etaOf[f] == e {
                                let v = (cv[f].lowHalf * P).sum()
                                out[f] = same ? 0.5 * (v - coefficientSum[f] * d) : v
                            }
                        }
                        pair &+= 1
                    }
                }
            }
            return
        }
        for e in 0..<E {
            for b in 0..<S {
                for c in b..<S {
                    let pair = t.pairIndex(b, c, speciesCount: S)
                    let mb = M + (e &* S &+ b) &* nb, mc = M + (e &* S &+ c) &* nb
                    var i = 0
                    while i < nb { product[i] = mb[i] * mc[i]; i &+= 1 }
                    let sameSpecies = b == c, d = diag[e &* S &+ b]
                    @inline(__always) func put(_ f: Int, _ v: Double) {
                        if etaOf[f] != e { return }
                        phi[o &+ pair &* nf &+ f] = sameSpecies ? 0.5 * (v - t.coefficientSum[f] * d) : v
                    }
                    // four functions at a time (their lane sums together keep the products in
                    // four-lane registers), then one at a time
                    var f = 0
                    while f &+ 4 <= nf {
                        let t0 = T + f &* nb, t1 = t0 + nb, t2 = t1 + nb, t3 = t2 + nb
                        var a0 = t0[0] * product[0], a1 = t1[0] * product[0]
                        var a2 = t2[0] * product[0], a3 = t3[0] * product[0]
                        i = 1
                        while i < nb {
                            let p = product[i]
                            a0 = VectorMath.mulAdd(t0[i], p, a0); a1 = VectorMath.mulAdd(t1[i], p, a1)
                            a2 = VectorMath.mulAdd(t2[i], p, a2); a3 = VectorMath.mulAdd(t3[i], p, a3)
                            i &+= 1
                        }
                        put(f, a0.sum()); put(f &+ 1, a1.sum()); put(f &+ 2, a2.sum()); put(f &+ 3, a3.sum())
                        f &+= 4
                    }
                    while f < nf {
                        let tf = T + f &* nb
                        var acc = tf[0] * product[0]
                        i = 1
                        while i < nb { acc = VectorMath.mulAdd(tf[i], product[i], acc); i &+= 1 }
                        put(f, acc.sum())
                        f &+= 1
                    }
                }
            }
        }
    }

    /// After an `evaluate` that deferred them (`angularGradientsDeferred`): the sum over the
    /// angular sums a of c[a] dphi_a/dq_k, the agent's own gradient weighted by `c` (length P;
    /// with c = dH/dphi, minus this is the sums' share of the selfish force, eV/Å). The
    /// functions fold into one set of weights per neighbour species, so each batch of four
    /// neighbours costs four dot products over the monomials (see `AngularLanes.ownGradient`).
    public func angularOwnGradient(_ c: UnsafePointer<Double>) -> SIMD3<Double> {
        guard angularGradientsDeferred, let lanes = lanesReference else { return .zero }
        let c = c + angularOffset, nf = functionCount
        if let single = singleLanesReference { return single._withUnsafeGuaranteedRef { $0.ownGradient(c, functionCount: nf) } }
        return lanes._withUnsafeGuaranteedRef { $0.ownGradient(c, functionCount: nf) }
    }

    /// Whether the selfish path of the moment-tensor angular sums (`defersAngularGradients`)
    /// computes its per-neighbour terms (unit vectors, radial factors, monomials, gradient
    /// products) in single precision, eight neighbours a vector (`CPUPrecision.mixed`); every sum
    /// over neighbours leaves the lanes in double, and everything else stays in double. Off by
    /// default (the double-precision oracle).
    public var singlePrecisionLanes: Bool {
        get { singleLanes != nil }
        set {
            if newValue, singleLanes == nil, let moments {
                singleLanes = AngularLanes(tables: moments, cutoff: angularCutoff)
            } else if !newValue {
                singleLanes = nil
            }
        }
    }

}
