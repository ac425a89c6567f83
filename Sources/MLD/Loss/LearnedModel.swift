import Foundation

/// The range of every invariant seen in training, for one agent species.
public struct InvariantRange: Codable, Sendable, Equatable {
    /// Smallest value of each invariant seen in training.
    public var min: [Double]
    /// Largest value of each invariant seen in training.
    public var max: [Double]

    public init(min: [Double], max: [Double]) { self.min = min; self.max = max }

    /// True if some component of phi lies outside [min, max].
    public func excludes(_ phi: UnsafeBufferPointer<Double>) -> Bool {
        for a in 0..<min.count where phi[a] < min[a] || phi[a] > max[a] { return true }
        return false
    }
}

/// Errors of a model on one species, measured on a set of frames.
public struct SpeciesErrors: Codable, Sendable, Equatable {
    public var species: String
    /// Number of agents (atoms x frames) the measures are over.
    public var agents: Int
    /// sqrt(sum |F_pred - F_ref|^2) / sqrt(sum |F_ref|^2), dimensionless.
    public var relRMSE: Double
    /// Root mean square error per force component, in eV/Å: sqrt(sum |dF|^2 / (3 agents)).
    public var rmse: Double
    /// Pearson correlation of predicted and reference forces, per component x, y, z.
    public var correlation: [Double]
    /// Fraction of agents with some invariant outside the training range.
    public var outOfRange: Double
}

/// Where a fitted model came from, stored in the model file.
public struct FitRecord: Codable, Sendable, Equatable {
    /// The CP2K data directory.
    public var data: String
    /// Further data sets whose frames were added to the training frames (their frames, not
    /// `trainFrames`, which counts frames of `data`).
    public var extraTrainingData: [String]?
    /// Training frames, as `a..b` (half-open) or `a..b:s` (stride s).
    public var trainFrames: String
    /// Test frames, as `a..b` (half-open).
    public var testFrames: String
    /// Ridge strength per species (relative to the unit diagonal of the column-scaled normal matrix).
    public var ridge: [String: Double]
    /// Whether the ridge was chosen by validation on contiguous blocks of the training frames.
    public var ridgeChosenByValidation: Bool
    /// Errors on the training frames, per species.
    public var train: [SpeciesErrors]
    /// Errors on the test frames, per species.
    public var test: [SpeciesErrors]
    /// When it was fitted (ISO 8601).
    public var date: String
}

/// How the agents' losses make forces.
public enum AgentKind: String, Codable, Sendable, CaseIterable {
    /// The paper's agents: each follows the gradient of its own loss with respect to its own
    /// position only, F_k = -dH_A(phi_k)/dq_k (no third law, not Hamiltonian).
    case selfish
    /// The physical counterpart: U = sum_k H_A(phi_k) is a potential energy and
    /// F_i = -dU/dq_i, so every agent's loss also acts on the neighbours it depends on.
    case conservative
}

/// A fitted learning-dynamics model: per-species quadratic losses over one invariant spec.
///
/// The model file (`mld fit --out`) is versioned JSON:
/// ```
/// { "format": "mld-model", "version": 2,
///   "species": [{"element": "O", "mass": 15.9994}, ...],         // model order
///   "invariants": {"species": ["O","H"], "blocks": [...]},        // see InvariantSpec
///   "form": "full",
///   "losses": [{"species": "O", "w": [P], "W": [P*P, row-major], "min": [P], "max": [P]}, ...],
///   "fit": { "data": ..., "trainFrames": "0..720", "testFrames": "720..900", "ridge": {...},
///            "train": [...], "test": [...] } }
/// ```
public struct LearnedModel: Sendable {
    public static let format = "mld-model"
    /// The version written. Version 1 (a single distance family, its fields at the top level of
    /// "invariants") is still read.
    public static let version = 2
    public static let readableVersions = 1...2

    /// Species in model order (the order of first appearance in the training data).
    public var species: [Element]
    public var invariants: InvariantSpec
    public var form: LossForm
    /// How the losses make forces (selfish: the paper's; conservative: minus the gradient of
    /// their sum).
    public var agents: AgentKind = .selfish
    /// One loss per species, in model order.
    public var losses: [QuadraticLoss]
    /// Training range of the invariants per species, in model order.
    public var ranges: [InvariantRange]
    /// Provenance and errors of the fit, if it came from one.
    public var fit: FitRecord?

    public init(species: [Element], invariants: InvariantSpec, form: LossForm,
                losses: [QuadraticLoss], ranges: [InvariantRange], fit: FitRecord? = nil,
                agents: AgentKind = .selfish) {
        self.agents = agents
        self.species = species
        self.invariants = invariants
        self.form = form
        self.losses = losses
        self.ranges = ranges
        self.fit = fit
    }

    /// Number of invariants per agent.
    public var invariantCount: Int { invariants.count }

    // MARK: Checking against a system

    /// Species index (model order) of every atom of `elements`/`species` (a configuration's),
    /// or `MLDError.model` if the system's elements are not the model's.
    public func speciesIndices(elements: [Element], species atomSpecies: [Int], file: String = "model") throws -> [Int32] {
        let modelSymbols = species.map(\.symbol)
        let dataSymbols = elements.map(\.symbol)
        guard Set(modelSymbols) == Set(dataSymbols) else {
            throw MLDError.model(file: file, problem: "model species \(modelSymbols.joined(separator: ",")) do not match the data's species \(dataSymbols.joined(separator: ","))")
        }
        let map = elements.map { e in Int32(modelSymbols.firstIndex(of: e.symbol)!) }
        return atomSpecies.map { map[$0] }
    }

    /// Throws `MLDError.model` if the model cannot be used on this system: other species, or an
    /// interaction range larger than half the shortest edge of `box`.
    public func check(elements: [Element], box: Box, file: String = "model") throws {
        _ = try speciesIndices(elements: elements, species: [], file: file)
        if let p = invariants.rangeProblem(box: box) {
            throw MLDError.model(file: file, problem: p)
        }
    }

    /// A per-thread evaluator of agent forces (see `AgentForceEvaluator`).
    public func makeAgentEvaluator() -> AgentForceEvaluator { AgentForceEvaluator(model: self) }

    // MARK: All agents of a configuration (all-pairs neighbour search)

    /// Forces on every agent of `configuration` in eV/Å, by an all-pairs neighbour search.
    public func forces(_ configuration: Configuration) throws -> [SIMD3<Double>] {
        try evaluate(configuration).forces
    }

    /// Forces (eV/Å), losses (eV) and whether each agent's invariants leave the training
    /// range, for every agent of `configuration`, by an all-pairs neighbour search. For a
    /// conservative model the force on an atom sums its own loss's and its neighbours' terms.
    public func evaluate(_ configuration: Configuration, evaluator: AgentForceEvaluator? = nil) throws
        -> (forces: [SIMD3<Double>], losses: [Double], outOfRange: [Bool]) {
        try check(elements: configuration.elements, box: configuration.box)
        let sp = try speciesIndices(elements: configuration.elements, species: configuration.species)
        let ev = evaluator ?? makeAgentEvaluator()
        let n = configuration.count
        var forces = [SIMD3<Double>](repeating: .zero, count: n)
        var losses = [Double](repeating: 0, count: n)
        var out = [Bool](repeating: false, count: n)
        let all = (0..<n).map { Int32($0) }
        try configuration.positions.withUnsafeBufferPointer { pos in
            try sp.withUnsafeBufferPointer { spp in
                try all.withUnsafeBufferPointer { cand in
                    for k in 0..<n {
                        let r = try ev.force(agent: k, positions: pos, species: spp, box: configuration.box, candidates: cand)
                        forces[k] += r.force
                        losses[k] = r.loss
                        out[k] = ev.lastOutOfRange(species: Int(spp[k]))
                        for i in 0..<ev.neighbourCount {      // conservative models only
                            let (j, f) = ev.neighbourForce(i)
                            forces[Int(j)] += f
                        }
                    }
                }
            }
        }
        return (forces, losses, out)
    }

    // MARK: Model file

    struct SpeciesEntry: Codable { var element: String; var mass: Double }
    struct LossEntry: Codable { var species: String; var w: [Double]; var W: [Double]; var min: [Double]; var max: [Double] }
    struct FileV1: Codable {
        var format: String
        var version: Int
        var species: [SpeciesEntry]
        var invariants: InvariantSpec
        var form: LossForm
        var agents: AgentKind?
        var losses: [LossEntry]
        var fit: FitRecord?
    }

    /// The model file's JSON text.
    public func jsonData() throws -> Data {
        let file = FileV1(
            format: Self.format, version: Self.version,
            species: species.map { SpeciesEntry(element: $0.symbol, mass: $0.mass) },
            invariants: invariants, form: form, agents: agents,
            losses: zip(species, zip(losses, ranges)).map {
                LossEntry(species: $0.symbol, w: $1.0.w, W: $1.0.W, min: $1.1.min, max: $1.1.max)
            },
            fit: fit)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(file)
    }

    /// Writes the model file atomically.
    public func write(to path: String) throws {
        try AtomicFile.write(try jsonData(), to: path)
    }

    /// Reads and checks a model file; every problem is one `MLDError.model` line.
    public static func load(_ path: String) throws -> LearnedModel {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw MLDError.model(file: path, problem: FileManager.default.fileExists(atPath: path) ? "cannot read the file" : "no such file")
        }
        return try decode(data, file: path)
    }

    /// Decodes and checks model-file JSON; `file` names it in errors.
    public static func decode(_ data: Data, file: String) throws -> LearnedModel {
        let top: Any
        do { top = try JSONSerialization.jsonObject(with: data) } catch {
            throw MLDError.model(file: file, problem: "not a JSON file (malformed model file)")
        }
        guard let obj = top as? [String: Any] else {
            throw MLDError.model(file: file, problem: "malformed model file: the top level is not a JSON object")
        }
        guard obj["format"] as? String == format else {
            throw MLDError.model(file: file, problem: "not an mld model file (no \"format\": \"\(format)\")")
        }
        guard let v = obj["version"] as? Int else {
            throw MLDError.model(file: file, problem: "malformed model file: no integer \"version\"")
        }
        guard readableVersions.contains(v) else {
            throw MLDError.model(file: file, problem: "unknown model file version \(v) (this mld reads versions \(readableVersions.lowerBound)-\(readableVersions.upperBound))")
        }
        let f: FileV1
        do { f = try JSONDecoder().decode(FileV1.self, from: data) } catch let e as DecodingError {
            throw MLDError.model(file: file, problem: "malformed model file: " + describe(e))
        }
        func bad(_ s: String) -> MLDError { .model(file: file, problem: "malformed model file: " + s) }
        if f.species.isEmpty { throw bad("no species") }
        let elements = f.species.map { Element(symbol: $0.element, mass: $0.mass) }
        if Set(elements.map(\.symbol)).count != elements.count { throw bad("a species is listed twice") }
        if !f.species.allSatisfy({ $0.mass > 0 && $0.mass.isFinite }) { throw bad("a species mass is not positive") }
        if f.invariants.species != elements.map(\.symbol) {
            throw bad("invariants.species \(f.invariants.species) differ from the species \(elements.map(\.symbol))")
        }
        if let p = f.invariants.validationProblem() { throw bad("invariants: " + p) }
        let p = f.invariants.count
        guard f.losses.count == elements.count else {
            throw bad("\(f.losses.count) losses for \(elements.count) species")
        }
        var losses: [QuadraticLoss] = []
        var ranges: [InvariantRange] = []
        for (e, l) in zip(elements, f.losses) {
            guard l.species == e.symbol else { throw bad("loss for \(l.species) where \(e.symbol) was expected") }
            guard l.w.count == p, l.W.count == p * p, l.min.count == p, l.max.count == p else {
                throw bad("loss of \(e.symbol): w, W, min, max must have \(p), \(p * p), \(p), \(p) entries (found \(l.w.count), \(l.W.count), \(l.min.count), \(l.max.count))")
            }
            if !(l.w + l.W + l.min + l.max).allSatisfy(\.isFinite) { throw bad("loss of \(e.symbol) has a non-finite number") }
            for a in 0..<p {
                for b in 0..<a {
                    let x = l.W[a * p + b], y = l.W[b * p + a]
                    if abs(x - y) > 1e-12 * max(1, abs(x), abs(y)) { throw bad("W of \(e.symbol) is not symmetric (entry \(a),\(b))") }
                    if f.form != .full && x != 0 { throw bad("W of \(e.symbol) has off-diagonal entries but the form is \(f.form.rawValue)") }
                }
                if f.form == .linear && l.W[a * p + a] != 0 { throw bad("W of \(e.symbol) is not zero but the form is linear") }
            }
            losses.append(QuadraticLoss(w: l.w, W: l.W))
            ranges.append(InvariantRange(min: l.min, max: l.max))
        }
        return LearnedModel(species: elements, invariants: f.invariants, form: f.form,
                            losses: losses, ranges: ranges, fit: f.fit, agents: f.agents ?? .selfish)
    }

    private static func describe(_ e: DecodingError) -> String {
        func path(_ c: [CodingKey]) -> String {
            c.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined().trimmingCharacters(in: CharacterSet(charactersIn: "."))
        }
        switch e {
        case let .keyNotFound(k, c): return "missing \"\(k.stringValue)\"" + (c.codingPath.isEmpty ? "" : " in \(path(c.codingPath))")
        case let .typeMismatch(_, c): return "wrong type at \(path(c.codingPath))"
        case let .valueNotFound(_, c): return "null at \(path(c.codingPath))"
        case let .dataCorrupted(c): return "bad value at \(path(c.codingPath))" + (c.debugDescription.isEmpty ? "" : " (\(c.debugDescription))")
        @unknown default: return "\(e)"
        }
    }
}

/// Computes one agent's force and loss for a `LearnedModel`: the hot path of every CPU force
/// backend. One evaluator per thread; `force` never allocates.
///
/// ```
/// let ev = model.makeAgentEvaluator()            // per thread, once
/// let sp = try model.speciesIndices(elements: c.elements, species: c.species)   // once
/// // per step, per agent k, with the CSR row of k's neighbours as candidates:
/// let (f, h) = try ev.force(agent: k, positions: pos, species: sp, box: box,
///                           candidates: UnsafeBufferPointer(rebasing: nbr[start[k]..<start[k+1]]))
/// ```
/// Candidates must include every atom within `model.invariants.range` (Å) of the agent.
public final class AgentForceEvaluator {
    /// The invariant evaluator; after `force`, `invariants.phi` and `invariants.gradient` hold
    /// the agent's phi and dphi/dq (for a selfish model the moment-tensor angular sums' gradients
    /// are folded into the force and left at zero unless `invariants.defersAngularGradients` is
    /// set to false first).
    public let invariants: InvariantEvaluator
    private let p: Int
    private let speciesCount: Int
    private let g: UnsafeMutableBufferPointer<Double>
    private let w: UnsafeMutableBufferPointer<Double>
    private let W: UnsafeMutableBufferPointer<Double>
    private let lo: UnsafeMutableBufferPointer<Double>
    private let hi: UnsafeMutableBufferPointer<Double>
    /// W of every species in SIMD4 chunks (`chunks` per row, zero-padded), and SIMD4 scratch.
    private let chunks: Int
    private let Wv: UnsafeMutablePointer<SIMD4<Double>>
    private let gv: UnsafeMutablePointer<SIMD4<Double>>
    /// A distance-only model (one `nearest` block, selfish, at most 16 invariants): W of every
    /// species in four SIMD4 per row, for `InvariantEvaluator.nearestLoss`; nil otherwise.
    private let W16: UnsafeMutablePointer<SIMD4<Double>>?
    /// Take the general path (`InvariantEvaluator.evaluate`, then the loss) even for a
    /// distance-only model; for tests that check one against the other.
    public var usesGeneralPath = false

    /// Whether `force` also computes the forces on the neighbours (conservative models).
    public let conservative: Bool
    /// After `force` of a conservative model: `neighbourCount` forces in eV/Å that the agent's
    /// loss puts on atoms `neighbourAtom(i)` (an atom may appear twice; add them).
    public private(set) var neighbourCount = 0
    private var neighbourForces: UnsafeMutablePointer<SIMD3<Double>>
    private var neighbourCapacity = 64
    private let minusG: UnsafeMutablePointer<Double>

    init(model: LearnedModel) {
        invariants = InvariantEvaluator(spec: model.invariants)
        conservative = model.agents == .conservative
        invariants.recordsNeighbourGradients = conservative
        invariants.defersAngularGradients = !conservative
        neighbourForces = .allocate(capacity: neighbourCapacity)
        minusG = .allocate(capacity: max(model.invariantCount, 1))
        p = model.invariantCount
        speciesCount = model.species.count
        g = .allocate(capacity: max(p, 1)); g.initialize(repeating: 0)
        w = .allocate(capacity: max(p * speciesCount, 1))
        W = .allocate(capacity: max(p * p * speciesCount, 1))
        lo = .allocate(capacity: max(p * speciesCount, 1))
        hi = .allocate(capacity: max(p * speciesCount, 1))
        chunks = max(1, (p + 3) / 4)
        Wv = .allocate(capacity: speciesCount * max(p, 1) * chunks)
        Wv.initialize(repeating: .zero, count: speciesCount * max(p, 1) * chunks)
        gv = .allocate(capacity: chunks)
        gv.initialize(repeating: .zero, count: chunks)
        for s in 0..<speciesCount {
            for a in 0..<p {
                for b in 0..<p { Wv[(s * p + a) * chunks + b / 4][b % 4] = model.losses[s].W[a * p + b] }
            }
        }
        if invariants.isNearestOnly && !conservative && p <= 16 {
            let v = UnsafeMutablePointer<SIMD4<Double>>.allocate(capacity: speciesCount * p * 4)
            v.initialize(repeating: .zero, count: speciesCount * p * 4)
            for s in 0..<speciesCount {
                for a in 0..<p {
                    for b in 0..<p { v[(s * p + a) * 4 + b / 4][b % 4] = model.losses[s].W[a * p + b] }
                }
            }
            W16 = v
        } else {
            W16 = nil
        }
        for s in 0..<speciesCount {
            for a in 0..<p {
                w[s * p + a] = model.losses[s].w[a]
                lo[s * p + a] = model.ranges[s].min[a]
                hi[s * p + a] = model.ranges[s].max[a]
                for b in 0..<p { W[(s * p + a) * p + b] = model.losses[s].W[a * p + b] }
            }
        }
    }

    deinit {
        g.deallocate(); w.deallocate(); W.deallocate(); lo.deallocate(); hi.deallocate()
        Wv.deallocate(); gv.deallocate(); W16?.deallocate()
        neighbourForces.deallocate(); minusG.deallocate()
    }

    /// The i-th neighbour force of the last agent (eV/Å) and its atom.
    @inline(__always)
    public func neighbourForce(_ i: Int) -> (atom: Int32, force: SIMD3<Double>) {
        (invariants.localAtom(i), neighbourForces[i])
    }

    /// For conservative models: -sum_a g_a dphi_a/dq_j for every neighbour j of the last agent.
    @inline(__always)
    private func computeNeighbourForces() {
        let n = invariants.localCount
        if n > neighbourCapacity {
            neighbourForces.deallocate()
            neighbourCapacity = max(n, 2 * neighbourCapacity)
            neighbourForces = .allocate(capacity: neighbourCapacity)
        }
        for a in 0..<p { minusG[a] = -g[a] }
        invariants.contract(minusG, into: neighbourForces)
        neighbourCount = n
    }

    /// Force on `agent` in eV/Å, F = -sum_a g_a dphi_a/dq_k, and its loss H in eV.
    ///
    /// - Parameters: as `InvariantEvaluator.evaluate`; `species` in model order (see
    ///   `LearnedModel.speciesIndices`).
    /// - Throws: `MLDError.numerical` naming the agent when a `nearest` neighbour species has
    ///   too few atoms within the search radius.
    @inline(__always)
    public func force(agent: Int, positions: UnsafeBufferPointer<SIMD3<Double>>,
                      species: UnsafeBufferPointer<Int32>, box: Box,
                      candidates: UnsafeBufferPointer<Int32>) throws -> (force: SIMD3<Double>, loss: Double) {
        if let W16, !usesGeneralPath {
            _ = try invariants.nearest(agent: agent, qk: positions[agent], positions: positions, species: species,
                                       lengths: box.lengths, candidates: candidates, speciesStarts: nil,
                                       buildDistances: nil, skin: 0, listRadius: .infinity,
                                       displacements: nil, largestDisplacement: 0)
            let s = Int(species[agent])
            return invariants.nearestLoss(W16: W16 + s * p * 4, w: w.baseAddress! + s * p, g: g.baseAddress!)
        }
        try invariants.evaluate(agent: agent, positions: positions, species: species, box: box, candidates: candidates)
        let r = lossAndForce(species: Int(species[agent]))
        if conservative { computeNeighbourForces() }
        return r
    }

    /// The same from a CPU backend's neighbourhood (a species-split list row that may be shorter
    /// than the search radius): the result's `neededRadius` is non-zero when the row was too short.
    @inline(__always)
    public func force(_ n: AgentNeighbourhood) throws -> AgentResult {
        if let W16, !usesGeneralPath {
            let needed = try invariants.nearest(
                agent: n.agent, qk: n.positions[n.agent], positions: n.positions, species: n.species,
                lengths: n.lengths, candidates: n.neighbours, speciesStarts: n.speciesStarts,
                buildDistances: n.buildDistances, skin: n.skin, listRadius: n.radius, buildRadius: n.buildRadius,
                displacements: n.displacements, largestDisplacement: n.largestDisplacement, identities: n.identities)
            let margin = invariants.listMargin
            if needed > 0 { return AgentResult(loss: 0, force: .zero, neededRadius: needed, listMargin: margin) }
            let s = Int(n.species[n.agent])
            let r = invariants.nearestLoss(W16: W16 + s * p * 4, w: w.baseAddress! + s * p, g: g.baseAddress!)
            return AgentResult(loss: r.loss, force: r.force, listMargin: margin)
        }
        let needed = try invariants.evaluate(agent: n.agent, positions: n.positions, species: n.species, box: n.box,
                                             candidates: n.neighbours, speciesStarts: n.speciesStarts,
                                             buildDistances: n.buildDistances, skin: n.skin, listRadius: n.radius,
                                             buildRadius: n.buildRadius, displacements: n.displacements,
                                             largestDisplacement: n.largestDisplacement, identities: n.identities,
                                             identityRanks: n.identityRanks)
        let margin = invariants.listMargin
        if needed > 0 { return AgentResult(loss: 0, force: .zero, neededRadius: needed, listMargin: margin) }
        let r = lossAndForce(species: Int(n.species[n.agent]))
        if conservative { computeNeighbourForces() }
        return AgentResult(loss: r.loss, force: r.force, listMargin: margin)
    }

    @inline(__always)
    private func lossAndForce(species s: Int) -> (force: SIMD3<Double>, loss: Double) {
        var r = QuadraticLoss.lossAndForce(count: p, chunks: chunks, phi: invariants.phi.baseAddress!,
                                           dphi: invariants.gradient.baseAddress!, g: g.baseAddress!, gv: gv,
                                           Wv: Wv + s * p * chunks, wp: w.baseAddress! + s * p)
        if invariants.angularGradientsDeferred {
            r.force -= invariants.angularOwnGradient(UnsafePointer(g.baseAddress!))
        }
        return r
    }

    /// dH/dphi of the last agent passed to `force` (length P).
    public var lastLossGradient: UnsafeBufferPointer<Double> { UnsafeBufferPointer(g) }

    /// Whether the last agent's invariants (of species `s`) left the training range.
    public func lastOutOfRange(species s: Int) -> Bool {
        let base = s * p
        for a in 0..<p {
            let x = invariants.phi[a]
            if x < lo[base + a] || x > hi[base + a] { return true }
        }
        return false
    }
}
