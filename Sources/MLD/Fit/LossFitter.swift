import Foundation

/// The radial basis to fit with, before its centres are placed.
public enum BasisChoice: Sendable, Equatable, CustomStringConvertible {
    /// `n` Gaussians evenly spaced from 0.7 Å to the cutoff, width = spacing.
    case gaussian(Int)
    /// r^-p for each p.
    case inversePower([Double])

    /// Parses `gaussian:16` or `inverse-power:2..12` (powers 2 to 12, both included) or
    /// `inverse-power:1,2,4,6`.
    public static func parse(_ s: String) throws -> BasisChoice {
        func bad(_ why: String) -> MLDError { .usage("bad --basis '\(s)': \(why) (expected gaussian:N or inverse-power:a..b, powers a to b inclusive)") }
        let parts = s.split(separator: ":", maxSplits: 1).map(String.init)
        guard parts.count == 2 else { throw bad("no ':'") }
        switch parts[0] {
        case "gaussian":
            guard let n = Int(parts[1]), n >= 1 else { throw bad("N must be a positive integer") }
            return .gaussian(n)
        case "inverse-power":
            if let r = parts[1].range(of: "..") {
                guard let a = Int(parts[1][..<r.lowerBound]), let b = Int(parts[1][r.upperBound...]) else { throw bad("powers must be integers") }
                guard a >= 1, b >= a else { throw bad("need 1 <= a <= b") }
                return .inversePower((a...b).map(Double.init))
            }
            let p = parts[1].split(separator: ",").compactMap { Double($0) }
            guard !p.isEmpty, p.count == parts[1].split(separator: ",").count, p.allSatisfy({ $0 > 0 }) else { throw bad("powers must be positive numbers") }
            return .inversePower(p)
        default: throw bad("unknown basis '\(parts[0])'")
        }
    }

    public var size: Int {
        switch self { case let .gaussian(n): return n; case let .inversePower(p): return p.count }
    }

    public var description: String {
        switch self {
        case let .gaussian(n): return "gaussian:\(n)"
        case let .inversePower(p): return "inverse-power:" + p.map { String(format: "%g", $0) }.joined(separator: ",")
        }
    }

    func basis(cutoff: Double) -> RadialBasis {
        switch self {
        case let .gaussian(n): return .gaussian(size: n, cutoff: cutoff)
        case let .inversePower(p): return .inversePower(p)
        }
    }
}

/// Which angular blocks follow the distance block (`mld fit --angles`).
public enum AngleChoice: String, Sendable, CaseIterable {
    case none
    /// `LabelledAngles` (needs nearest distances).
    case labelled
    /// `AngularSums`.
    case sums
    case labelledAndSums = "labelled+sums"

    public var labelled: Bool { self == .labelled || self == .labelledAndSums }
    public var sums: Bool { self == .sums || self == .labelledAndSums }

    /// What `mld fit` uses without `--angles` (see docs/fit.md for the measurements behind it).
    public static let fitDefault: AngleChoice = .labelledAndSums
}

/// Settings of one fit. Defaults are those of the paper's model (selfish agents, nearest
/// distances only); `mld fit` with no options adds the angular blocks of `AngleChoice.fitDefault`.
public struct FitSettings: Sendable {
    /// The labelled angles `mld fit` uses by default: the bend H1-k-H2 (for an O agent the
    /// H-O-H angle of its molecule). Angles with second neighbours (O1-O2) swap often and made
    /// the fit worse for H once the angular sums are there (docs/fit.md).
    public static let defaultLabelledAngles = LabelledAngles(pairs: [(NeighbourLabel("H", 1), NeighbourLabel("H", 2))])
    /// Default cutoff of the angular sums in Å.
    public static let defaultAngularCutoff = 4.0
    /// Default radial decays of the angular sums in 1/Å² (broad: sharp ones make false wells).
    public static let defaultAngularEtas: [Double] = [0.2]
    /// Default angular sharpness of the angular sums: zeta 1 and 3 validate as well as 1 and 4
    /// and need moment tensors to rank 3 only, not 4 (docs/fit.md, "Which zetas").
    public static let defaultAngularZetas: [Double] = [1, 3]

    /// The nearest counts `mld fit` uses for selfish agents with the angular sums (the default
    /// model): beside the bend and the sums, 4 O and 4 H validate as well as the paper's 6 and 8,
    /// cost 10 % less per step, and need fewer neighbours within the search radius (docs/fit.md,
    /// "Fewer nearest distances beside the sums"). Everything else keeps `nearestCounts`'s
    /// default, the paper's.
    public static let defaultNearestCountsWithSums: [String: Int] = ["O": 4, "H": 4]

    public var family: InvariantFamily = .nearest
    /// `nearest`: neighbour count per element symbol (default: the paper's O:6,H:8).
    public var nearestCounts: [String: Int] = ["O": 6, "H": 8]
    public var transform: DistanceTransform = .distance
    /// `radial`: cutoff in Å.
    public var cutoff: Double = 6.0
    /// `radial`: the basis.
    public var basis: BasisChoice = .gaussian(16)
    /// Labelled angles appended after the distance block (needs `nearest`); nil: none.
    public var labelledAngles: LabelledAngles? = nil
    /// Smooth angular sums appended after them; nil: none.
    public var angularSums: AngularSums? = nil
    public var form: LossForm = .full
    /// Fixed ridge strength (relative to the unit diagonal of the column-scaled normal matrix);
    /// nil chooses it by validation.
    public var ridge: Double?
    /// Training frames; nil: every 3rd frame of the first 80 % of the frames (frames 0.5 fs
    /// apart are nearly identical: on the bundled data every frame and every 3rd give the
    /// same test errors to 4 digits, at a third of the cost).
    public var train: FrameRange?
    /// Test frames; nil: the last 20 %.
    public var test: FrameRange?
    /// Selfish agents (the paper's, each fitted to its own force) or conservative ones (one
    /// joint fit of all species' losses to F = -dU/dq, U = sum_k H_k).
    public var agents: AgentKind = .selfish
    /// Conservative agents: weight W (Å^-2) of one energy row per training frame (U against the
    /// CP2K potential energy, with a free constant offset): the fit minimises
    /// sum |dF|^2 + W sum dU^2. 0 (the default): forces only.
    public var energyWeight = 0.0
    /// Stride through the frames of extra training data sets.
    public var extraStride = 3
    /// Number of contiguous training blocks for the ridge validation.
    public var validationBlocks = 4
    /// Ridge strengths tried by the validation.
    public var ridgeGrid: [Double] = [0] + (2...12).reversed().map { pow(10, -Double($0)) }
    /// `nearest`: margin in Å added to the largest n-th neighbour distance seen in training to
    /// give the search radius (capped at half the shortest box edge).
    public var searchMargin = 1.0
    /// Threads for building the design matrix and measuring errors.
    public var threads = defaultThreadCount()
    /// Compute the sensitivity table (needs the refits without each invariant group).
    public var sensitivity = true

    public init() {}

    /// Why `energyWeight` cannot be used with these settings, in one line, or nil.
    public var energyWeightProblem: String? {
        if !(energyWeight >= 0 && energyWeight.isFinite) { return "--energy-weight must be a finite number >= 0 (got \(energyWeight))" }
        if energyWeight > 0 && agents != .conservative {
            return "--energy-weight needs --agents conservative (selfish agents have no potential energy to fit)"
        }
        return nil
    }
}

/// One ridge strength tried by the validation.
public struct RidgeTrial: Codable, Sendable {
    public var ridge: Double
    /// Pooled validation rel_RMSE over the held-out training blocks, per species (model order).
    public var validationRelRMSE: [Double]
}

/// One row of the sensitivity table.
public struct SensitivityRow: Codable, Sendable {
    /// Agent species.
    public var species: String
    /// The invariant group: a neighbour species ("O": all O invariants) or one invariant ("O3").
    public var group: String
    /// Mean over test agents of sum_{a in group} |g_a| |dphi_a/dq|, in eV/Å.
    public var meanForceShare: Double
    /// Test rel_RMSE of a refit without the group (same ridge, from the normal equations).
    public var testRelRMSEWithout: Double
    /// Rise of the test rel_RMSE over the full model's (same measure).
    public var rise: Double
}

/// What a fit did and measured (printed by `mld fit`, `--json`).
public struct FitReport: Codable, Sendable {
    public var data: String
    public var invariants: String
    public var form: String
    public var parameters: Int
    public var trainFrames: String
    public var testFrames: String
    /// Further data sets whose frames were added to the training frames.
    public var extraTrainingData: [String]
    public var trainFrameCount: Int
    public var testFrameCount: Int
    public var ridge: [String: Double]
    public var ridgeChosenByValidation: Bool
    public var ridgeTrials: [RidgeTrial]
    /// Condition number of the column-scaled normal matrix plus ridge, per species (left out
    /// where the matrix is singular; see `rank`).
    public var conditionNumber: [String: Double]
    /// Numerical rank of the column-scaled normal matrix, per species (out of `parameters`).
    public var rank: [String: Int]
    public var train: [SpeciesErrors]
    public var test: [SpeciesErrors]
    public var sensitivity: [SensitivityRow]
    public var warnings: [String]
    /// Seconds: first pass (ranges), building the normal equations, solving, measuring, total.
    public var rangeSeconds: Double
    public var buildSeconds: Double
    public var solveSeconds: Double
    public var measureSeconds: Double
    public var totalSeconds: Double
    public var threads: Int
    /// Conservative fits: U against the CP2K potential energies (nil without them).
    public var energy: EnergyErrors? = nil
}

/// Fits the per-species quadratic losses of a `LearnedModel` to the forces of a CP2K run.
///
/// For every agent of species A in every training frame, the three rows of the design matrix
/// are dF/dtheta of F_k = -sum_a g_a dphi_a/dq_k, with g = w + W u and u = phi - mu (mu the
/// mean training invariants; centring improves conditioning and is undone in the stored w).
/// The normal equations are accumulated in parallel over frames with BLAS, per contiguous
/// block of training frames, and solved with LAPACK (`RidgeSolver`).
public enum LossFitter {
    /// - Parameters:
    ///   - run: the data set; its frames are split into training and test frames.
    ///   - extraTraining: further data sets of the same system (same species in the same order,
    ///     same cell) whose frames, every `settings.extraStride`-th, are added to the training
    ///     frames only (the test frames stay those of `run`).
    public static func fit(run: CP2KRun, settings: FitSettings, extraTraining: [CP2KRun] = []) throws -> (model: LearnedModel, report: FitReport) {
        let clock = Date()
        var frames = run.frames
        let nFrames = frames.count
        guard nFrames >= 2, let first = frames.first else {
            throw MLDError.input(file: run.directory, line: nil, problem: "need at least 2 frames to fit (train and test), found \(nFrames)")
        }
        guard run.hasForces else { throw MLDError.input(file: run.directory, line: nil, problem: "no forces to fit") }
        if let p = settings.energyWeightProblem { throw MLDError.usage(p) }
        let elements = first.elements
        let symbols = elements.map(\.symbol)
        let sCount = elements.count
        let box = first.box
        let halfBox = 0.5 * box.shortestEdge

        // Frames.
        let nTrain = Int((0.8 * Double(nFrames)).rounded(.down))
        let trainRange = settings.train ?? FrameRange(0, nTrain, stride: 3)
        let testRange = settings.test ?? FrameRange(nTrain, nFrames)
        var trainIdx = try trainRange.indices(frameCount: nFrames, what: "--train")
        let testIdx = try testRange.indices(frameCount: nFrames, what: "--test")
        for extra in extraTraining {
            guard let e0 = extra.frames.first, extra.hasForces else {
                throw MLDError.input(file: extra.directory, line: nil, problem: "no frames with forces to train on")
            }
            guard e0.elements.map(\.symbol) == symbols, e0.species == first.species else {
                throw MLDError.input(file: extra.directory, line: nil, problem: "its atoms (species and order) differ from those of \(run.directory)")
            }
            guard ((e0.box.lengths - box.lengths) / box.lengths).max() < 1e-6, ((box.lengths - e0.box.lengths) / box.lengths).max() < 1e-6 else {
                throw MLDError.input(file: extra.directory, line: nil, problem: "its cell \(e0.box) differs from \(box) of \(run.directory)")
            }
            let picked = stride(from: 0, to: extra.frames.count, by: max(1, settings.extraStride)).map { extra.frames[$0] }
            trainIdx += frames.count..<(frames.count + picked.count)
            frames += picked
        }
        var warnings: [String] = []
        if !Set(trainIdx).isDisjoint(with: testIdx) {
            warnings.append("the training and test frames overlap: test errors are not held-out errors")
        }

        // Invariant spec (the nearest search radius is set after the first pass).
        var spec: InvariantSpec
        switch settings.family {
        case .nearest:
            var counts: [Int] = []
            for s in symbols {
                guard let c = settings.nearestCounts[s] else {
                    throw MLDError.usage("--nearest gives no count for species \(s) of the data (species: \(symbols.joined(separator: ",")))")
                }
                counts.append(c)
            }
            for k in settings.nearestCounts.keys where !symbols.contains(k) {
                throw MLDError.usage("--nearest names species \(k), which is not in the data (species: \(symbols.joined(separator: ",")))")
            }
            // Available atoms: an agent of species A sees count_B - (A == B) atoms of B.
            let avail = first.speciesCounts
            for (b, c) in counts.enumerated() where c > avail[b] - 1 {
                throw MLDError.usage("--nearest \(symbols[b]):\(c): the data has only \(avail[b]) \(symbols[b]) atoms, so an agent has at most \(avail[b] - 1) \(symbols[b]) neighbours")
            }
            spec = .nearest(species: symbols, counts: counts, searchRadius: halfBox, transform: settings.transform)
        case .radial:
            guard settings.cutoff > 0 else { throw MLDError.usage("--cutoff must be positive") }
            spec = .radial(species: symbols, cutoff: settings.cutoff, basis: settings.basis.basis(cutoff: settings.cutoff))
            if let p = spec.rangeProblem(box: box) { throw MLDError.usage("--cutoff: " + p) }
        }
        if let a = settings.labelledAngles {
            guard settings.family == .nearest else { throw MLDError.usage("labelled angles need --invariants nearest") }
            spec = spec.adding(.labelledAngles(a))
        }
        if let a = settings.angularSums {
            spec = spec.adding(.angularSums(a))
            if let p = spec.rangeProblem(box: box) { throw MLDError.usage("--angular-cutoff: " + p) }
        }
        if let p = spec.validationProblem() { throw MLDError.usage(p) }
        let m0 = settings.form.parameterCount(spec.count)
        // The normal equations: (K + 2) blocks per species and thread of m x m doubles.
        let bytes = Double(m0) * Double(m0) * 8 * Double(sCount) * Double(settings.validationBlocks + 2) * Double(max(1, settings.threads))
        if bytes > 8e9 {
            throw MLDError.usage(String(format: "%d invariants give %d parameters per species: the normal equations would need %.0f GB (limit 8 GB); use fewer invariants or --form diagonal", spec.count, m0, bytes / 1e9))
        }
        let P = spec.count
        let m = settings.form.parameterCount(P)
        let threads = max(1, settings.threads)
        let atomSpecies = first.species.map { Int32($0) }
        let all = (0..<first.count).map { Int32($0) }
        let perSpecies = first.speciesCounts

        // Pass 1 over the training frames: ranges, means, largest n-th neighbour distances.
        struct Stats { var lo: [[Double]]; var hi: [[Double]]; var sum: [[Double]]; var n: [Int]; var far: [Double] }
        let t0 = Date()
        var stats = (0..<threads).map { _ in
            Stats(lo: .init(repeating: .init(repeating: .infinity, count: P), count: sCount),
                  hi: .init(repeating: .init(repeating: -.infinity, count: P), count: sCount),
                  sum: .init(repeating: .init(repeating: 0, count: P), count: sCount),
                  n: .init(repeating: 0, count: sCount), far: .init(repeating: 0, count: sCount))
        }
        let evals1 = (0..<threads).map { _ in InvariantEvaluator(spec: spec) }
        try stats.withUnsafeMutableBufferPointer { st in
            try parallelForEach(count: trainIdx.count, threads: threads) { th, i in
                let c = frames[trainIdx[i]]
                let ev = evals1[th]
                try c.positions.withUnsafeBufferPointer { pos in
                    try atomSpecies.withUnsafeBufferPointer { sp in
                        try all.withUnsafeBufferPointer { cand in
                            for k in 0..<c.count {
                                do {
                                    try ev.evaluate(agent: k, positions: pos, species: sp, box: box, candidates: cand)
                                } catch let MLDError.numerical(msg) {
                                    throw MLDError.input(file: run.directory, line: nil, problem: "frame \(trainIdx[i]): \(msg) (half the box edge)")
                                }
                                let s = Int(sp[k])
                                st[th].n[s] += 1
                                for a in 0..<P {
                                    let x = ev.phi[a]
                                    st[th].lo[s][a] = min(st[th].lo[s][a], x)
                                    st[th].hi[s][a] = max(st[th].hi[s][a], x)
                                    st[th].sum[s][a] += x
                                }
                                if let near = spec.nearest {
                                    for b in 0..<sCount where near.counts[b] > 0 {
                                        let r = ev.nearestDistance(near.start(b) + near.counts[b] - 1)
                                        st[th].far[b] = max(st[th].far[b], r)
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        var lo = stats[0].lo, hi = stats[0].hi, sum = stats[0].sum, count = stats[0].n, far = stats[0].far
        for th in 1..<threads {
            for s in 0..<sCount {
                count[s] += stats[th].n[s]
                far[s] = max(far[s], stats[th].far[s])
                for a in 0..<P {
                    lo[s][a] = min(lo[s][a], stats[th].lo[s][a])
                    hi[s][a] = max(hi[s][a], stats[th].hi[s][a])
                    sum[s][a] += stats[th].sum[s][a]
                }
            }
        }
        let centre = (0..<sCount).map { s in sum[s].map { $0 / Double(max(count[s], 1)) } }
        if spec.nearest != nil {
            let r = min(halfBox, (far.max() ?? 0) + settings.searchMargin)
            spec.setSearchRadius(r)
        }
        let rangeSeconds = Date().timeIntervalSince(t0)

        if settings.agents == .conservative {
            let (energies, sources) = ConservativeFit.potentialEnergies(run: run, extra: extraTraining, stride: settings.extraStride)
            let job = ConservativeFit(
                run: run, settings: settings, frames: frames, trainIdx: trainIdx, testIdx: testIdx,
                trainRange: trainRange, testRange: testRange, extraTraining: extraTraining.map(\.directory),
                spec: spec, centre: centre, ranges: (0..<sCount).map { InvariantRange(min: lo[$0], max: hi[$0]) },
                warnings: warnings, rangeSeconds: rangeSeconds, clock: clock, energies: energies, energySources: sources)
            return try job.fit()
        }

        // Pass 2: normal equations per (block, species), blocks 0..<K training, K test.
        let K = settings.ridge == nil ? max(1, min(settings.validationBlocks, trainIdx.count)) : 1
        var jobs: [(frame: Int, block: Int)] = []
        for (i, f) in trainIdx.enumerated() { jobs.append((f, i * K / trainIdx.count)) }
        // The test frames' normal equations are only needed for the sensitivity refits.
        if settings.sensitivity { for f in testIdx { jobs.append((f, K)) } }
        let t1 = Date()
        final class Worker {
            var eq: [[NormalEquations]]
            let rows: [UnsafeMutablePointer<Double>]
            let targets: [UnsafeMutablePointer<Double>]
            let ev: InvariantEvaluator
            init(blocks: Int, m: Int, perSpecies: [Int], spec: InvariantSpec) {
                eq = (0...blocks).map { _ in perSpecies.map { _ in NormalEquations(m: m) } }
                rows = perSpecies.map { .allocate(capacity: max(1, 3 * $0 * m)) }
                targets = perSpecies.map { .allocate(capacity: max(1, 3 * $0)) }
                ev = InvariantEvaluator(spec: spec)
            }
            deinit { rows.forEach { $0.deallocate() }; targets.forEach { $0.deallocate() } }
        }
        let finalSpec = spec
        let workers = (0..<min(threads, jobs.count)).map { _ in Worker(blocks: K, m: m, perSpecies: perSpecies, spec: finalSpec) }
        let form = settings.form
        try parallelForEach(count: jobs.count, threads: workers.count) { th, i in
            let job = jobs[i]
            let c = frames[job.frame]
            let w = workers[th]
            guard let ref = c.forces else { throw MLDError.input(file: run.directory, line: nil, problem: "frame \(job.frame) has no forces") }
            var filled = [Int](repeating: 0, count: sCount)
            try c.positions.withUnsafeBufferPointer { pos in
                try atomSpecies.withUnsafeBufferPointer { sp in
                    try all.withUnsafeBufferPointer { cand in
                        for k in 0..<c.count {
                            do {
                                try w.ev.evaluate(agent: k, positions: pos, species: sp, box: box, candidates: cand)
                            } catch let MLDError.numerical(msg) {
                                throw MLDError.input(file: run.directory, line: nil, problem: "frame \(job.frame): \(msg)")
                            }
                            let s = Int(sp[k])
                            let mu = centre[s]
                            for comp in 0..<3 {
                                let r = filled[s]; filled[s] += 1
                                let row = w.rows[s] + r * m
                                w.targets[s][r] = ref[k][comp]
                                Self.fillRow(row, P: P, form: form, phi: w.ev.phi, dphi: w.ev.gradient, centre: mu, component: comp)
                            }
                        }
                    }
                }
            }
            for s in 0..<sCount {
                w.eq[job.block][s].add(rows: w.rows[s], targets: w.targets[s], count: filled[s])
            }
        }
        var blocks = workers[0].eq
        for w in workers.dropFirst() {
            for b in 0...K { for s in 0..<sCount { blocks[b][s].add(w.eq[b][s]) } }
        }
        for b in 0...K { for s in 0..<sCount { blocks[b][s].symmetrise() } }
        let buildSeconds = Date().timeIntervalSince(t1)

        // Solve: ridge by validation over the K training blocks, then on all training frames.
        let t2 = Date()
        var trials: [RidgeTrial] = []
        var chosen = [Double](repeating: settings.ridge ?? 0, count: sCount)
        var totals: [NormalEquations] = []
        for s in 0..<sCount {
            var t = NormalEquations(m: m)
            for b in 0..<K { t.add(blocks[b][s]) }
            totals.append(t)
        }
        let validate = settings.ridge == nil && K >= 2
        if validate {
            var pooled = [[Double]](repeating: [Double](repeating: 0, count: settings.ridgeGrid.count), count: sCount)
            for s in 0..<sCount {
                var bbSum = 0.0
                for b in 0..<K {
                    var fold = totals[s]
                    for i in 0..<(m * m) { fold.G[i] -= blocks[b][s].G[i] }
                    for i in 0..<m { fold.c[i] -= blocks[b][s].c[i] }
                    let solver = try RidgeSolver(G: fold.G, m: m)
                    for (li, lambda) in settings.ridgeGrid.enumerated() {
                        pooled[s][li] += blocks[b][s].residual(solver.solve(fold.c, lambda: lambda))
                    }
                    bbSum += blocks[b][s].bb
                }
                for li in 0..<settings.ridgeGrid.count { pooled[s][li] = (pooled[s][li] / max(bbSum, .leastNormalMagnitude)).squareRoot() }
                let best = pooled[s].indices.min { pooled[s][$0] < pooled[s][$1] }!
                chosen[s] = settings.ridgeGrid[best]
            }
            trials = settings.ridgeGrid.enumerated().map { li, l in RidgeTrial(ridge: l, validationRelRMSE: (0..<sCount).map { pooled[$0][li] }) }
        } else if settings.ridge == nil {
            warnings.append("too few training frames to validate the ridge; using ridge 0")
        }
        var losses: [QuadraticLoss] = []
        var conditions: [String: Double] = [:]
        var ranks: [String: Int] = [:]
        var parameters: [[Double]] = []
        for s in 0..<sCount {
            let solver = try RidgeSolver(G: totals[s].G, m: m)
            let x = solver.solve(totals[s].c, lambda: chosen[s])
            parameters.append(x)
            let cond = solver.conditionNumber(lambda: chosen[s])
            if cond.isFinite { conditions[symbols[s]] = cond }
            ranks[symbols[s]] = solver.rank
            if !(cond < 1e12) {
                warnings.append(String(format: "the normal equations of %@ are ill-conditioned (condition number %.2g with ridge %g, numerical rank %d of %d): the invariants' terms are nearly linearly dependent; solved by pseudo-inverse, keeping the well-determined directions only",
                                       symbols[s], cond, chosen[s], solver.rank, m))
            }
            losses.append(Self.loss(from: x, P: P, form: form, centre: centre[s]))
        }
        let solveSeconds = Date().timeIntervalSince(t2)

        // Measure on the training and test frames with the final model.
        let t3 = Date()
        let ranges = (0..<sCount).map { InvariantRange(min: lo[$0], max: hi[$0]) }
        var model = LearnedModel(species: elements, invariants: spec, form: form, losses: losses, ranges: ranges)
        let trainAcc = try model.measure(frames: trainIdx.map { frames[$0] }, threads: threads, file: run.directory)
        let testAcc = try model.measure(frames: testIdx.map { frames[$0] }, threads: threads, sensitivity: settings.sensitivity, file: run.directory)
        let trainErr = (0..<sCount).map { trainAcc[$0].errors(species: symbols[$0]) }
        let testErr = (0..<sCount).map { testAcc[$0].errors(species: symbols[$0]) }

        // Sensitivity: force share per group and the refit without it.
        var sens: [SensitivityRow] = []
        if settings.sensitivity {
            let test = (0..<sCount).map { blocks[K][$0] }
            for s in 0..<sCount {
                let base = (test[s].residual(parameters[s]) / max(test[s].bb, .leastNormalMagnitude)).squareRoot()
                let groups = spec.groups
                let agents = Double(max(testAcc[s].agents, 1))
                for (name, members) in groups {
                    let share = members.reduce(0) { $0 + testAcc[s].sensitivity[$1] } / agents
                    let keepInv = Set(0..<P).subtracting(members)
                    let keep = Self.parameterIndices(P: P, form: form, keeping: keepInv)
                    var without = 1.0
                    if !keep.isEmpty {
                        let x = try RidgeSolver.choleskySolve(G: totals[s].restricted(to: keep).G, c: totals[s].restricted(to: keep).c,
                                                              m: keep.count, lambda: chosen[s])
                        without = (test[s].restricted(to: keep).residual(x) / max(test[s].bb, .leastNormalMagnitude)).squareRoot()
                    }
                    sens.append(SensitivityRow(species: symbols[s], group: name, meanForceShare: share,
                                               testRelRMSEWithout: without, rise: without - base))
                }
            }
        }
        let measureSeconds = Date().timeIntervalSince(t3)

        let ridgeMap = Dictionary(uniqueKeysWithValues: zip(symbols, chosen))
        model.fit = FitRecord(data: run.directory, extraTrainingData: extraTraining.isEmpty ? nil : extraTraining.map { "\($0.directory) (frames 0..\($0.frames.count):\(settings.extraStride))" },
                              trainFrames: trainRange.description, testFrames: testRange.description,
                              ridge: ridgeMap, ridgeChosenByValidation: validate, train: trainErr, test: testErr,
                              date: ISO8601DateFormatter().string(from: Date()))
        let report = FitReport(
            data: run.directory, invariants: spec.summary, form: form.rawValue, parameters: m,
            trainFrames: trainRange.description, testFrames: testRange.description,
            extraTrainingData: extraTraining.map(\.directory),
            trainFrameCount: trainIdx.count, testFrameCount: testIdx.count,
            ridge: ridgeMap, ridgeChosenByValidation: validate, ridgeTrials: trials,
            conditionNumber: conditions, rank: ranks, train: trainErr, test: testErr, sensitivity: sens, warnings: warnings,
            rangeSeconds: rangeSeconds, buildSeconds: buildSeconds, solveSeconds: solveSeconds,
            measureSeconds: measureSeconds, totalSeconds: Date().timeIntervalSince(clock), threads: threads)
        return (model, report)
    }

    /// One design-matrix row: dF_comp/dtheta for the parameters theta of `form`, in the order
    /// w_0..w_{P-1}, then W_aa (diagonal) or W_ab for a <= b row by row (full).
    @inline(__always)
    static func fillRow(_ row: UnsafeMutablePointer<Double>, P: Int, form: LossForm,
                        phi: UnsafeMutableBufferPointer<Double>, dphi: UnsafeMutableBufferPointer<SIMD3<Double>>,
                        centre: [Double], component c: Int) {
        for a in 0..<P { row[a] = -dphi[a][c] }
        switch form {
        case .linear: break
        case .diagonal:
            for a in 0..<P { row[P + a] = -(phi[a] - centre[a]) * dphi[a][c] }
        case .full:
            var i = P
            for a in 0..<P {
                let ua = phi[a] - centre[a], da = dphi[a][c]
                row[i] = -ua * da; i += 1
                for b in (a + 1)..<max(P, a + 1) {
                    row[i] = -((phi[b] - centre[b]) * da + ua * dphi[b][c]); i += 1
                }
            }
        }
    }

    /// The loss w.phi + 1/2 phi W phi from parameters fitted in centred invariants u = phi - mu:
    /// W as fitted, w = w' - W mu (the constant is dropped).
    static func loss(from x: [Double], P: Int, form: LossForm, centre: [Double]) -> QuadraticLoss {
        var W = [Double](repeating: 0, count: P * P)
        switch form {
        case .linear: break
        case .diagonal: for a in 0..<P { W[a * P + a] = x[P + a] }
        case .full:
            var i = P
            for a in 0..<P {
                for b in a..<P { W[a * P + b] = x[i]; W[b * P + a] = x[i]; i += 1 }
            }
        }
        var w = Array(x[0..<P])
        for a in 0..<P { for b in 0..<P { w[a] -= W[a * P + b] * centre[b] } }
        return QuadraticLoss(w: w, W: W)
    }

    /// Parameter indices (in `fillRow` order) that involve only the invariants in `keeping`.
    static func parameterIndices(P: Int, form: LossForm, keeping: Set<Int>) -> [Int] {
        var keep: [Int] = []
        for a in 0..<P where keeping.contains(a) { keep.append(a) }
        switch form {
        case .linear: break
        case .diagonal: for a in 0..<P where keeping.contains(a) { keep.append(P + a) }
        case .full:
            var i = P
            for a in 0..<P {
                for b in a..<P {
                    if keeping.contains(a) && keeping.contains(b) { keep.append(i) }
                    i += 1
                }
            }
        }
        return keep
    }
}
