/// The per-agent evaluation a CPU backend runs: agent `k`'s loss `H_A(phi_k)` in eV and its force
/// `F_k = -dH_A/dq_k` in eV/Å, from the atoms in its neighbour list.
///
/// Implementations are plain values (model parameters only); everything that changes per call
/// comes in through `AgentNeighbourhood`, and per-thread working memory through a `Workspace`
/// made once per thread, so an evaluation never allocates.
public protocol AgentPotential: Sendable {
    /// Per-thread working memory.
    associatedtype Workspace
    /// A fresh workspace for one thread.
    func makeWorkspace() -> Workspace
    /// Number of species, in the order of `Configuration.elements`.
    var speciesCount: Int { get }
    /// Every atom that can enter an agent's loss lies within this distance, in Å (the model's
    /// cutoff or search radius).
    var interactionRange: Double { get }
    /// Whether the distance that matters depends on the configuration (nearest-neighbour
    /// invariants). Then the backend lists neighbours within a smaller radius and grows it when
    /// an evaluation asks for more (`AgentResult.neededRadius`).
    var isAdaptive: Bool { get }
    /// Whether the neighbour list should order each row by distance at build time (see
    /// `NeighbourList.orderByDistance`).
    var wantsDistanceOrder: Bool { get }
    /// A first neighbour-list radius in Å for `counts` atoms of each species in `box`.
    func initialRadius(counts: [Int], box: Box) -> Double
    /// Evaluates one agent. Throws when the model cannot be evaluated (for example too few atoms
    /// of a species within the search radius); the message names the agent.
    func evaluate(_ n: AgentNeighbourhood, workspace: Workspace) throws -> AgentResult
    /// Whether an agent's loss also acts on its neighbours (F_i = -dU/dq_i, U = sum_k H_k): then
    /// after each `evaluate`, `forEachNeighbourForce` gives those forces.
    var isConservative: Bool { get }
    /// After `evaluate` of a conservative potential: calls `body(atom, force)` (eV/Å) for every
    /// force the agent's loss puts on another atom.
    func forEachNeighbourForce(workspace: Workspace, _ body: (Int, SIMD3<Double>) -> Void)
    /// Whether the potential knows a training range (then `isOutsideTrainingRange` answers).
    var hasTrainingRange: Bool { get }
    /// After `evaluate` of an agent of species `s`: whether its invariants left the training range.
    func isOutsideTrainingRange(workspace: Workspace, species s: Int) -> Bool
    /// Whether a backend may number the atoms its own way (in cell order, for memory locality)
    /// and pass each atom's number in the caller's order as `AgentNeighbourhood.identities`:
    /// true where an agent's result depends on the numbering only through those identities, so
    /// that every force is the same bits in any numbering.
    var allowsRenumbering: Bool { get }
    /// Whether `evaluate` decides from `AgentNeighbourhood.buildRadius` and the displacements
    /// whether the row holds every atom the agent depends on (`AgentResult.neededRadius` when it
    /// does not) and reports `AgentResult.listMargin`: a backend may then keep its list past half
    /// the skin, for as long as every agent's neighbourhood is certain.
    var certifiesNeighbourhood: Bool { get }
}

extension AgentPotential {
    public var isConservative: Bool { false }
    public func forEachNeighbourForce(workspace: Workspace, _ body: (Int, SIMD3<Double>) -> Void) {}
    public var hasTrainingRange: Bool { false }
    public func isOutsideTrainingRange(workspace: Workspace, species s: Int) -> Bool { false }
    public var allowsRenumbering: Bool { false }
    public var certifiesNeighbourhood: Bool { false }
}

/// What one agent sees: its own index and position, its neighbour list, every position and
/// species, and the radius within which the neighbour list is complete.
public struct AgentNeighbourhood {
    /// The agent's index.
    public var agent: Int
    /// Neighbour indices: species by species, ascending within each.
    public var neighbours: UnsafeBufferPointer<Int32>
    /// Where each species' neighbours start in `neighbours`: `speciesStarts[s] ..< speciesStarts[s + 1]`
    /// (speciesCount + 1 entries, the first 0).
    public var speciesStarts: UnsafeMutablePointer<Int>
    /// Positions wrapped into [0, L) along every axis, in Å.
    public var positions: UnsafeBufferPointer<SIMD3<Double>>
    /// Species index of every atom.
    public var species: UnsafeBufferPointer<Int32>
    /// The box.
    public var box: Box
    /// Box edges in Å and their halves.
    public var lengths: SIMD3<Double>
    public var halfLengths: SIMD3<Double>
    /// Every atom closer than this (Å) to the agent is in `neighbours`.
    public var radius: Double
    /// Every atom within this distance (Å) of the agent when the list was built is in
    /// `neighbours` (the list's radius plus its skin), or 0. With `displacements`, every atom now
    /// within buildRadius - displacements[agent] - largestDisplacement is then a neighbour too,
    /// which may reach past `radius` (a backend that keeps its list by the agents'
    /// `AgentResult.listMargin`, `AgentPotential.certifiesNeighbourhood`).
    public var buildRadius: Double = 0
    /// With a distance-ordered list: build-time distances (Å) aligned with `neighbours`, else nil.
    public var buildDistances: UnsafePointer<Float>?
    /// The list's skin in Å: a neighbour listed at d0 is now at least d0 - skin away.
    public var skin: Double
    /// How far (Å) every atom moved since the list was built, or nil: with them a neighbour j
    /// listed at d0 is now at least d0 - displacements[agent] - displacements[j] away.
    public var displacements: UnsafePointer<Double>? = nil
    /// The largest of `displacements` (Å).
    public var largestDisplacement: Double = 0
    /// Where the backend numbered the atoms its own way (`AgentPotential.allowsRenumbering`):
    /// every atom's index in the caller's numbering, by the backend's; nil where the two agree.
    public var identities: UnsafePointer<Int32>? = nil
    /// With a distance-ordered list: each neighbour's place in ascending identity within its
    /// species (`NeighbourList.identityRanks`), aligned with `neighbours`, or nil.
    public var identityRanks: UnsafePointer<UInt16>? = nil

    /// Minimum-image vector from the agent to atom `j`, in Å.
    @inline(__always)
    public func displacement(to j: Int) -> SIMD3<Double> {
        minimumImage(positions[j] - positions[agent], lengths: lengths)
    }
}

/// One agent's loss (eV) and force (eV/Å), or the neighbour-list radius it needs (Å) when the
/// list given was too short to decide.
public struct AgentResult {
    public var loss: Double
    public var force: SIMD3<Double>
    /// Non-zero when the evaluation could not be completed within `AgentNeighbourhood.radius`:
    /// the radius in Å that would have sufficed.
    public var neededRadius: Double
    /// With `AgentNeighbourhood.buildRadius`: how far (Å) inside the neighbourhood that the list
    /// surely holds the farthest distance the result depends on lay (see
    /// `InvariantEvaluator.listMargin`); infinity where the potential does not say.
    public var listMargin: Double

    @inline(__always)
    public init(loss: Double, force: SIMD3<Double>, neededRadius: Double = 0, listMargin: Double = .infinity) {
        self.loss = loss
        self.force = force
        self.neededRadius = neededRadius
        self.listMargin = listMargin
    }
}

/// A conservative test loss: a pair potential written as an agent loss,
/// `H_k = sum_{j != k, r_kj < rc} V_{s_k s_j}(r_kj)`.
///
/// Then `F_k = -dH_k/dq_k` equals the force of the total energy `E = 1/2 sum_k H_k`, so the
/// dynamics is Hamiltonian (energy and momentum conserved), which is what the integrator and
/// thermostat tests need. The learned `linear` model form is of this kind too.
public struct PairAgentLoss: AgentPotential {
    /// One pair interaction, energies in eV and lengths in Å.
    public enum Pair: Sendable {
        /// Shifted-force Lennard-Jones: `4 eps ((s/r)^12 - (s/r)^6)` minus its value and slope
        /// at the cutoff, so energy and force both vanish there.
        case lennardJones(epsilon: Double, sigma: Double)
        /// Harmonic spring `1/2 k (r - r0)^2` (k in eV/Å², r0 in Å), cut at rc without smoothing.
        case harmonic(k: Double, r0: Double)
        /// No interaction.
        case none
    }

    public let speciesCount: Int
    /// Cutoff in Å.
    public let cutoff: Double
    /// `pairs[a * speciesCount + b]`: the interaction of an agent of species a with a neighbour of b.
    public let pairs: [Pair]

    public init(speciesCount: Int, cutoff: Double, pairs: [Pair]) {
        precondition(pairs.count == speciesCount * speciesCount)
        self.speciesCount = speciesCount
        self.cutoff = cutoff
        self.pairs = pairs
    }

    /// One Lennard-Jones interaction for every pair of species.
    public init(speciesCount: Int, cutoff: Double, epsilon: Double, sigma: Double) {
        self.init(speciesCount: speciesCount, cutoff: cutoff,
                  pairs: Array(repeating: .lennardJones(epsilon: epsilon, sigma: sigma),
                               count: speciesCount * speciesCount))
    }

    public var interactionRange: Double { cutoff }
    public var isAdaptive: Bool { false }
    public var wantsDistanceOrder: Bool { false }
    public func makeWorkspace() {}
    public func initialRadius(counts: [Int], box: Box) -> Double { cutoff }

    /// Pair energy V(r) in eV and -dV/dr / r in eV/Å².
    @inline(__always)
    func pair(_ p: Pair, r2: Double) -> (v: Double, fOverR: Double) {
        switch p {
        case let .lennardJones(eps, sigma):
            func lj(_ r2: Double) -> (Double, Double) {
                let s2 = sigma * sigma / r2, s6 = s2 * s2 * s2
                return (4 * eps * (s6 * s6 - s6), 24 * eps * (2 * s6 * s6 - s6) / r2)
            }
            let r = r2.squareRoot()
            let (vc, fc) = lj(cutoff * cutoff)         // fc = -V'(rc)/rc
            let (v, f) = lj(r2)
            let slopeC = -fc * cutoff                    // V'(rc)
            return (v - vc - (r - cutoff) * slopeC, f + slopeC / r)
        case let .harmonic(k, r0):
            let r = r2.squareRoot()
            return (0.5 * k * (r - r0) * (r - r0), -k * (r - r0) / r)
        case .none:
            return (0, 0)
        }
    }

    public func evaluate(_ n: AgentNeighbourhood, workspace: Void) throws -> AgentResult {
        let rc2 = cutoff * cutoff
        let row = Int(n.species[n.agent]) * speciesCount
        var loss = 0.0
        var force = SIMD3<Double>()
        for j in n.neighbours {
            let d = n.displacement(to: Int(j))
            let r2 = (d * d).sum()
            guard r2 < rc2 else { continue }
            let (v, fOverR) = pair(pairs[row + Int(n.species[Int(j)])], r2: r2)
            loss += v
            force -= fOverR * d          // d points from the agent to j
        }
        return AgentResult(loss: loss, force: force)
    }
}
