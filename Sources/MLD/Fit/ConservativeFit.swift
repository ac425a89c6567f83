import Foundation

/// The least-squares fit of a conservative model: U = sum_k H_{A_k}(phi_k) and
/// F_i = -dU/dq_i = -sum_k sum_a g^k_a dphi^k_a/dq_i, with g^k = w_A + W_A u^k (u = phi - mu_A, the
/// centred invariants). F is linear in every species' (w, W), so all species are fitted jointly:
/// one row per atom and component of every training frame, the columns of every species side by
/// side (species-major, each in `LossFitter.fillRow`'s order). The ridge (relative to the unit
/// diagonal of the scaled normal matrix) is chosen by validation on contiguous blocks of the
/// training frames, as for selfish agents, one value for the joint system.
///
/// Energy rows (`FitSettings.energyWeight` W > 0, Å^-2): one more row per training frame, U of
/// the frame against the CP2K potential energy, with one more column for a free constant offset;
/// the fit then minimises sum |F - F_CP2K|^2 + W sum (U + E0 - U_CP2K)^2. The ridge validation
/// still measures the held-out forces only. Whenever the frames have CP2K energies the report
/// gives U's energy errors (`EnergyErrors`), with or without energy rows.
///
/// Built by `LossFitter.fit` after its first pass (ranges, centres, search radius) when
/// `FitSettings.agents` is `.conservative`. No sensitivity table (an atom's force mixes the
/// losses of many agents).
struct ConservativeFit {
    let run: CP2KRun
    let settings: FitSettings
    let frames: [Configuration]
    let trainIdx: [Int]
    let testIdx: [Int]
    let trainRange: FrameRange
    let testRange: FrameRange
    let extraTraining: [String]
    let spec: InvariantSpec
    let centre: [[Double]]
    let ranges: [InvariantRange]
    var warnings: [String]
    let rangeSeconds: Double
    let clock: Date
    /// CP2K potential energy (eV) of every frame of `frames` (nil: no `.ener` row), and the
    /// directory each frame came from.
    let energies: [Double?]
    let energySources: [String]

    func fit() throws -> (model: LearnedModel, report: FitReport) {
        var warnings = self.warnings
        let first = frames[trainIdx.first ?? 0]
        let elements = first.elements
        let symbols = elements.map(\.symbol)
        let S = elements.count
        let P = spec.count
        let form = settings.form
        let m = form.parameterCount(P)
        let M = S * m
        let n = first.count
        let file = run.directory
        // Energy rows: the parameters plus the offset E0 (column M).
        let weight = settings.energyWeight
        let useEnergy = weight > 0
        let Mx = M + (useEnergy ? 1 : 0)
        if useEnergy, let f = trainIdx.first(where: { energies[$0] == nil }) {
            let step = frames[f].step.map { "step \($0)" } ?? "no step"
            throw MLDError.input(file: energySources[f], line: nil, problem: "--energy-weight: training frame \(f) (\(step)) has no potential energy (no .ener row for it)")
        }
        let trainEnergies = trainIdx.compactMap { energies[$0] }
        let haveTrainEnergies = trainEnergies.count == trainIdx.count && !trainIdx.isEmpty
        let energyMean = haveTrainEnergies ? trainEnergies.reduce(0, +) / Double(trainEnergies.count) : 0
        let trainRows = UnsafeMutablePointer<Double>.allocate(capacity: max(1, trainIdx.count * M))
        defer { trainRows.deallocate() }
        trainRows.initialize(repeating: 0, count: max(1, trainIdx.count * M))
        let threads = max(1, min(settings.threads, trainIdx.count))
        let species = first.species.map { Int32($0) }
        let all = (0..<n).map { Int32($0) }

        // Normal equations per contiguous block of training frames.
        let K = settings.ridge == nil ? max(1, min(settings.validationBlocks, trainIdx.count)) : 1
        let t1 = Date()
        final class Worker {
            var eq: [NormalEquations]
            var energyEq: [NormalEquations]
            let rows: UnsafeMutablePointer<Double>
            let targets: UnsafeMutablePointer<Double>
            let ev: InvariantEvaluator
            var D: [SIMD3<Double>]           // dphi_a/dq_i per (local neighbour, invariant)
            init(blocks: Int, M: Int, n: Int, spec: InvariantSpec) {
                eq = (0..<blocks).map { _ in NormalEquations(m: M) }
                energyEq = (0..<blocks).map { _ in NormalEquations(m: M) }
                rows = .allocate(capacity: 3 * n * M)
                targets = .allocate(capacity: 3 * n)
                ev = InvariantEvaluator(spec: spec)
                ev.recordsNeighbourGradients = true
                D = []
            }
            deinit { rows.deallocate(); targets.deallocate() }
        }
        let workers = (0..<threads).map { _ in Worker(blocks: K, M: Mx, n: n, spec: spec) }
        try parallelForEach(count: trainIdx.count, threads: threads) { th, i in
            let c = frames[trainIdx[i]]
            let w = workers[th]
            guard let ref = c.forces else { throw MLDError.input(file: file, line: nil, problem: "frame \(trainIdx[i]) has no forces") }
            w.rows.update(repeating: 0, count: 3 * n * Mx)
            let energyRow = trainRows + i * M
            for k in 0..<n { for comp in 0..<3 { w.targets[3 * k + comp] = ref[k][comp] } }
            var own = [SIMD3<Double>](repeating: .zero, count: P)
            try c.positions.withUnsafeBufferPointer { pos in
                try species.withUnsafeBufferPointer { sp in
                    try all.withUnsafeBufferPointer { cand in
                        for k in 0..<n {
                            do {
                                try w.ev.evaluate(agent: k, positions: pos, species: sp, box: c.box, candidates: cand)
                            } catch let MLDError.numerical(msg) {
                                throw MLDError.input(file: file, line: nil, problem: "frame \(trainIdx[i]): \(msg)")
                            }
                            let A = Int(sp[k])
                            let mu = centre[A]
                            if haveTrainEnergies {
                                Self.addEnergy(energyRow, offset: A * m, P: P, form: form, phi: w.ev.phi, centre: mu)
                            }
                            // The agent's own atom.
                            for a in 0..<P { own[a] = w.ev.gradient[a] }
                            Self.addRows(w.rows, atom: k, M: Mx, offset: A * m, P: P, form: form,
                                         phi: w.ev.phi, dphi: own, centre: mu)
                            // Its neighbours: group the terms by local neighbour.
                            let L = w.ev.localCount
                            if w.D.count < L * P { w.D = [SIMD3<Double>](repeating: .zero, count: L * P) }
                            for x in 0..<(L * P) { w.D[x] = .zero }
                            var used = [Bool](repeating: false, count: L)
                            for t in 0..<w.ev.termCount {
                                let l = Int(w.ev.termLocalIndex(t))
                                w.D[l * P + Int(w.ev.termInvariant[t])] += w.ev.termGradient[t]
                                used[l] = true
                            }
                            for l in 0..<L where used[l] {
                                let slice = Array(w.D[(l * P)..<((l + 1) * P)])
                                Self.addRows(w.rows, atom: Int(w.ev.localAtom(l)), M: Mx, offset: A * m, P: P, form: form,
                                             phi: w.ev.phi, dphi: slice, centre: mu)
                            }
                        }
                    }
                }
            }
            w.eq[i * K / trainIdx.count].add(rows: w.rows, targets: w.targets, count: 3 * n)
            if useEnergy {
                // sqrt(W) (dU/dtheta, 1) against sqrt(W) (U_CP2K - mean), for the offset E0 - mean.
                let root = weight.squareRoot()
                var row = (0..<M).map { root * energyRow[$0] } + [root]
                var target = root * (energies[trainIdx[i]]! - energyMean)
                w.energyEq[i * K / trainIdx.count].add(rows: &row, targets: &target, count: 1)
            }
        }
        var blocks = workers[0].eq, energyBlocks = workers[0].energyEq
        for w in workers.dropFirst() {
            for b in 0..<K { blocks[b].add(w.eq[b]); energyBlocks[b].add(w.energyEq[b]) }
        }
        for b in 0..<K { blocks[b].symmetrise(); energyBlocks[b].symmetrise() }
        var total = NormalEquations(m: Mx)
        for b in 0..<K { total.add(blocks[b]); total.add(energyBlocks[b]) }
        let buildSeconds = Date().timeIntervalSince(t1)

        // Ridge by validation, then the solve on all training frames.
        let t2 = Date()
        var ridge = settings.ridge ?? 0
        var trials: [RidgeTrial] = []
        let validate = settings.ridge == nil && K >= 2
        if validate {
            var pooled = [Double](repeating: 0, count: settings.ridgeGrid.count)
            var bb = 0.0
            for b in 0..<K {
                var fold = total
                for x in 0..<(Mx * Mx) { fold.G[x] -= blocks[b].G[x] + energyBlocks[b].G[x] }
                for x in 0..<Mx { fold.c[x] -= blocks[b].c[x] + energyBlocks[b].c[x] }
                let solver = try RidgeSolver(G: fold.G, m: Mx)
                for (li, lambda) in settings.ridgeGrid.enumerated() {
                    pooled[li] += blocks[b].residual(solver.solve(fold.c, lambda: lambda))
                }
                bb += blocks[b].bb
            }
            pooled = pooled.map { ($0 / max(bb, .leastNormalMagnitude)).squareRoot() }
            let best = pooled.indices.min { pooled[$0] < pooled[$1] }!
            ridge = settings.ridgeGrid[best]
            trials = settings.ridgeGrid.enumerated().map { RidgeTrial(ridge: $1, validationRelRMSE: Array(repeating: pooled[$0], count: S)) }
        } else if settings.ridge == nil {
            warnings.append("too few training frames to validate the ridge; using ridge 0")
        }
        let solver = try RidgeSolver(G: total.G, m: Mx)
        let x = solver.solve(total.c, lambda: ridge)
        let cond = solver.conditionNumber(lambda: ridge)
        if !(cond < 1e12) {
            warnings.append(String(format: "the joint normal equations are ill-conditioned (condition number %.2g with ridge %g, numerical rank %d of %d); solved by pseudo-inverse",
                                   cond, ridge, solver.rank, Mx))
        }
        let losses = (0..<S).map { A in LossFitter.loss(from: Array(x[(A * m)..<((A + 1) * m)]), P: P, form: form, centre: centre[A]) }
        let solveSeconds = Date().timeIntervalSince(t2)

        // U against the CP2K energies, where every training and test frame has one.
        var energyErrors: EnergyErrors?
        let testEnergies = testIdx.compactMap { energies[$0] }
        if haveTrainEnergies && testEnergies.count == testIdx.count && !testIdx.isEmpty {
            let testRows = try Self.energyRows(frames: testIdx.map { frames[$0] }, spec: spec, centre: centre, form: form,
                                               M: M, threads: settings.threads, file: file)
            let trainRowList = (0..<trainIdx.count).map { Array(UnsafeBufferPointer(start: trainRows + $0 * M, count: M)) }
            energyErrors = Self.energyErrors(weight: weight, x: Array(x[0..<M]), trainRows: trainRowList,
                                             trainEnergies: trainEnergies, testRows: testRows, testEnergies: testEnergies,
                                             atoms: n)
        } else if useEnergy {
            warnings.append("some test frames have no CP2K potential energy: no energy errors reported")
        }

        // Measure with the fitted model (whole-frame conservative forces).
        let t3 = Date()
        var model = LearnedModel(species: elements, invariants: spec, form: form, losses: losses, ranges: ranges,
                                 agents: .conservative)
        let trainAcc = try model.measure(frames: trainIdx.map { frames[$0] }, threads: settings.threads, file: file)
        let testAcc = try model.measure(frames: testIdx.map { frames[$0] }, threads: settings.threads, file: file)
        let trainErr = (0..<S).map { trainAcc[$0].errors(species: symbols[$0]) }
        let testErr = (0..<S).map { testAcc[$0].errors(species: symbols[$0]) }
        let measureSeconds = Date().timeIntervalSince(t3)

        let ridgeMap = Dictionary(uniqueKeysWithValues: symbols.map { ($0, ridge) })
        model.fit = FitRecord(data: run.directory, extraTrainingData: extraTraining.isEmpty ? nil : extraTraining,
                              trainFrames: trainRange.description, testFrames: testRange.description,
                              ridge: ridgeMap, ridgeChosenByValidation: validate, train: trainErr, test: testErr,
                              date: ISO8601DateFormatter().string(from: Date()))
        let report = FitReport(
            data: run.directory, invariants: spec.summary, form: form.rawValue + ", conservative (joint over species)",
            parameters: m, trainFrames: trainRange.description, testFrames: testRange.description,
            extraTrainingData: extraTraining, trainFrameCount: trainIdx.count, testFrameCount: testIdx.count,
            ridge: ridgeMap, ridgeChosenByValidation: validate, ridgeTrials: trials,
            conditionNumber: cond.isFinite ? Dictionary(uniqueKeysWithValues: symbols.map { ($0, cond) }) : [:],
            rank: Dictionary(uniqueKeysWithValues: symbols.map { ($0, solver.rank) }),
            train: trainErr, test: testErr, sensitivity: [], warnings: warnings,
            rangeSeconds: rangeSeconds, buildSeconds: buildSeconds, solveSeconds: solveSeconds,
            measureSeconds: measureSeconds, totalSeconds: Date().timeIntervalSince(clock), threads: settings.threads,
            energy: energyErrors)
        return (model, report)
    }

    /// Adds dF_atom/dtheta of one agent (species block at `offset`) to the three rows of `atom`:
    /// -dphi_a/dq for w_a, and the W terms as `LossFitter.fillRow`, with dphi = d phi/d q_atom.
    static func addRows(_ rows: UnsafeMutablePointer<Double>, atom: Int, M: Int, offset: Int, P: Int, form: LossForm,
                        phi: UnsafeMutableBufferPointer<Double>, dphi: [SIMD3<Double>], centre: [Double]) {
        for c in 0..<3 {
            let row = rows + (3 * atom + c) * M + offset
            for a in 0..<P { row[a] -= dphi[a][c] }
            switch form {
            case .linear: break
            case .diagonal:
                for a in 0..<P { row[P + a] -= (phi[a] - centre[a]) * dphi[a][c] }
            case .full:
                var i = P
                for a in 0..<P {
                    let ua = phi[a] - centre[a], da = dphi[a][c]
                    row[i] -= ua * da; i += 1
                    for b in (a + 1)..<max(P, a + 1) {
                        row[i] -= (phi[b] - centre[b]) * da + ua * dphi[b][c]; i += 1
                    }
                }
            }
        }
    }
}
