import Foundation

/// The least-squares fit of a conservative model: U = sum_k H_{A_k}(phi_k) and
/// F_i = -dU/dq_i = -sum_k sum_a g^k_a dphi^k_a/dq_i, with g^k = w_A + W_A u^k (u = phi - mu_A, the
/// centred invariants). F is linear in every species' (w, W), so all species are fitted jointly:
/// one row per atom and component of every training frame, the columns of every species side by
/// side (species-major, each in `LossFitter.fillRow`'s order). The ridge (relative to the unit
/// diagonal of the scaled normal matrix) is chosen by validation on contiguous blocks of the
/// training frames, as for selfish agents, one value for the joint system.
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
        let threads = max(1, min(settings.threads, trainIdx.count))
        let species = first.species.map { Int32($0) }
        let all = (0..<n).map { Int32($0) }

        // Normal equations per contiguous block of training frames.
        let K = settings.ridge == nil ? max(1, min(settings.validationBlocks, trainIdx.count)) : 1
        let t1 = Date()
        final class Worker {
            var eq: [NormalEquations]
            let rows: UnsafeMutablePointer<Double>
            let targets: UnsafeMutablePointer<Double>
            let ev: InvariantEvaluator
            var D: [SIMD3<Double>]           // dphi_a/dq_i per (local neighbour, invariant)
            init(blocks: Int, M: Int, n: Int, spec: InvariantSpec) {
                eq = (0..<blocks).map { _ in NormalEquations(m: M) }
                rows = .allocate(capacity: 3 * n * M)
                targets = .allocate(capacity: 3 * n)
                ev = InvariantEvaluator(spec: spec)
                ev.recordsNeighbourGradients = true
                D = []
            }
            deinit { rows.deallocate(); targets.deallocate() }
        }
        let workers = (0..<threads).map { _ in Worker(blocks: K, M: M, n: n, spec: spec) }
        let file = run.directory
        try parallelForEach(count: trainIdx.count, threads: threads) { th, i in
            let c = frames[trainIdx[i]]
            let w = workers[th]
            guard let ref = c.forces else { throw MLDError.input(file: file, line: nil, problem: "frame \(trainIdx[i]) has no forces") }
            w.rows.update(repeating: 0, count: 3 * n * M)
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
                            // The agent's own atom.
                            for a in 0..<P { own[a] = w.ev.gradient[a] }
                            Self.addRows(w.rows, atom: k, M: M, offset: A * m, P: P, form: form,
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
                                Self.addRows(w.rows, atom: Int(w.ev.localAtom(l)), M: M, offset: A * m, P: P, form: form,
                                             phi: w.ev.phi, dphi: slice, centre: mu)
                            }
                        }
                    }
                }
            }
            w.eq[i * K / trainIdx.count].add(rows: w.rows, targets: w.targets, count: 3 * n)
        }
        var blocks = workers[0].eq
        for w in workers.dropFirst() { for b in 0..<K { blocks[b].add(w.eq[b]) } }
        for b in 0..<K { blocks[b].symmetrise() }
        var total = NormalEquations(m: M)
        for b in 0..<K { total.add(blocks[b]) }
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
                for x in 0..<(M * M) { fold.G[x] -= blocks[b].G[x] }
                for x in 0..<M { fold.c[x] -= blocks[b].c[x] }
                let solver = try RidgeSolver(G: fold.G, m: M)
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
        let solver = try RidgeSolver(G: total.G, m: M)
        let x = solver.solve(total.c, lambda: ridge)
        let cond = solver.conditionNumber(lambda: ridge)
        if !(cond < 1e12) {
            warnings.append(String(format: "the joint normal equations are ill-conditioned (condition number %.2g with ridge %g, numerical rank %d of %d); solved by pseudo-inverse",
                                   cond, ridge, solver.rank, M))
        }
        let losses = (0..<S).map { A in LossFitter.loss(from: Array(x[(A * m)..<((A + 1) * m)]), P: P, form: form, centre: centre[A]) }
        let solveSeconds = Date().timeIntervalSince(t2)

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
            measureSeconds: measureSeconds, totalSeconds: Date().timeIntervalSince(clock), threads: settings.threads)
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
