import Foundation

/// Accumulates the force-error measures of one species over many agents.
public struct ForceErrorAccumulator: Sendable {
    public var agents = 0
    public var sumSquaredError = 0.0
    public var sumSquaredReference = 0.0
    public var outOfRange = 0
    /// Per component: sums of predicted, reference, their squares and product.
    var sp = SIMD3<Double>.zero, sr = SIMD3<Double>.zero
    var spp = SIMD3<Double>.zero, srr = SIMD3<Double>.zero, spr = SIMD3<Double>.zero
    /// Per invariant: sum over agents of |g_a| |dphi_a/dq| (eV/Å).
    public var sensitivity: [Double]

    public init(invariants p: Int) { sensitivity = [Double](repeating: 0, count: p) }

    public mutating func add(predicted f: SIMD3<Double>, reference r: SIMD3<Double>, outside: Bool) {
        agents += 1
        let d = f - r
        sumSquaredError += (d * d).sum()
        sumSquaredReference += (r * r).sum()
        if outside { outOfRange += 1 }
        sp += f; sr += r; spp += f * f; srr += r * r; spr += f * r
    }

    public mutating func add(_ o: ForceErrorAccumulator) {
        agents += o.agents
        sumSquaredError += o.sumSquaredError
        sumSquaredReference += o.sumSquaredReference
        outOfRange += o.outOfRange
        sp += o.sp; sr += o.sr; spp += o.spp; srr += o.srr; spr += o.spr
        for i in 0..<sensitivity.count { sensitivity[i] += o.sensitivity[i] }
    }

    /// The measures; all zero when there are no agents or no reference force.
    public func errors(species: String) -> SpeciesErrors {
        let n = Double(max(agents, 1))
        var corr: [Double] = []
        for c in 0..<3 {
            let cov = spr[c] / n - sp[c] / n * sr[c] / n
            let vp = spp[c] / n - sp[c] * sp[c] / (n * n)
            let vr = srr[c] / n - sr[c] * sr[c] / (n * n)
            corr.append(vp > 0 && vr > 0 ? cov / (vp * vr).squareRoot() : 0)
        }
        return SpeciesErrors(
            species: species, agents: agents,
            relRMSE: sumSquaredReference > 0 ? (sumSquaredError / sumSquaredReference).squareRoot() : 0,
            rmse: (sumSquaredError / (3 * n)).squareRoot(),
            correlation: corr,
            outOfRange: Double(outOfRange) / n)
    }
}

/// Runs `body(thread, item)` for items 0..<count on `threads` threads (item i on thread
/// i % threads), rethrowing the first error.
func parallelForEach(count: Int, threads: Int, _ body: (Int, Int) throws -> Void) throws {
    let t = max(1, min(threads, count))
    let lock = NSLock()
    var firstError: Error?
    DispatchQueue.concurrentPerform(iterations: t) { thread in
        var i = thread
        while i < count {
            lock.lock(); let stop = firstError != nil; lock.unlock()
            if stop { return }
            do { try body(thread, i) } catch {
                lock.lock(); if firstError == nil { firstError = error }; lock.unlock()
                return
            }
            i += t
        }
    }
    if let firstError { throw firstError }
}

/// Threads used for fitting and evaluation: the machine's active cores, at most `cap`.
public func defaultThreadCount(cap: Int = 8) -> Int {
    max(1, min(cap, AvailableCores.count))
}

extension LearnedModel {
    /// Force errors per species (model order) of this model against the reference forces of
    /// `frames`, computed in parallel over frames with an all-pairs neighbour search. With
    /// `sensitivity`, each species' accumulator also holds sum |g_a| |dphi_a/dq|.
    public func measure(frames: [Configuration], threads: Int = defaultThreadCount(),
                        sensitivity: Bool = false, file: String = "model") throws -> [ForceErrorAccumulator] {
        guard let first = frames.first else { return species.map { _ in ForceErrorAccumulator(invariants: invariantCount) } }
        try check(elements: first.elements, box: first.box, file: file)
        let sp = try speciesIndices(elements: first.elements, species: first.species, file: file)
        let n = first.count
        let p = invariantCount
        let all = (0..<n).map { Int32($0) }
        let t = max(1, min(threads, frames.count))
        let evaluators = (0..<t).map { _ in makeAgentEvaluator() }
        // The sensitivity table needs every invariant's own gradient, not only the force.
        if sensitivity { for ev in evaluators { ev.invariants.defersAngularGradients = false } }
        var acc = [[ForceErrorAccumulator]](repeating: species.map { _ in ForceErrorAccumulator(invariants: p) }, count: t)
        try acc.withUnsafeMutableBufferPointer { accp in
            try parallelForEach(count: frames.count, threads: t) { thread, f in
                let c = frames[f]
                guard let ref = c.forces else {
                    throw MLDError.input(file: file, line: nil, problem: "frame \(f) has no reference forces")
                }
                let ev = evaluators[thread]
                if agents == .conservative {
                    // Every atom's force gathers terms of many agents: the whole frame first.
                    let r = try evaluate(c, evaluator: ev)
                    for k in 0..<n {
                        accp[thread][Int(sp[k])].add(predicted: r.forces[k], reference: ref[k], outside: r.outOfRange[k])
                    }
                    return
                }
                try c.positions.withUnsafeBufferPointer { pos in
                    try sp.withUnsafeBufferPointer { spp in
                        try all.withUnsafeBufferPointer { cand in
                            for k in 0..<n {
                                let r = try ev.force(agent: k, positions: pos, species: spp, box: c.box, candidates: cand)
                                let s = Int(spp[k])
                                accp[thread][s].add(predicted: r.force, reference: ref[k],
                                                    outside: ev.lastOutOfRange(species: s))
                                if sensitivity {
                                    let g = ev.lastLossGradient
                                    for a in 0..<p {
                                        let d = ev.invariants.gradient[a]
                                        accp[thread][s].sensitivity[a] += abs(g[a]) * (d * d).sum().squareRoot()
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        var total = acc[0]
        for th in 1..<t { for s in 0..<species.count { total[s].add(acc[th][s]) } }
        return total
    }
}
