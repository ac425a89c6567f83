import Foundation

/// How well the potential U = sum_k H_{A_k}(phi_k) of a conservative fit follows the CP2K
/// potential energy of the frames (the `.ener` file), after the one constant offset that fits
/// the training frames best (a quadratic loss carries no constant, and the CP2K energy has an
/// arbitrary zero).
public struct EnergyErrors: Codable, Sendable, Equatable {
    /// Weight W of the energy rows in the fit (Å^-2; 0: forces only).
    public var weight: Double
    /// The offset E0 in eV with U_CP2K ~ U + E0: the mean of U_CP2K - U over the training frames.
    public var offset: Double
    /// RMSE of U + E0 against U_CP2K over the training and the test frames, in meV per atom.
    public var trainRMSE: Double
    public var testRMSE: Double
    /// Standard deviation of U_CP2K over the test frames, in meV per atom (the scale of the RMSE).
    public var testSpread: Double
}

extension ConservativeFit {
    /// The CP2K potential energy (eV) of every frame of `run` (nil where its step has no `.ener`
    /// row), then of the frames taken from each of `extra` (every `stride`-th), in the order
    /// `LossFitter.fit` appends them; and the directory each frame came from.
    static func potentialEnergies(run: CP2KRun, extra: [CP2KRun], stride: Int) -> (energies: [Double?], sources: [String]) {
        func energies(_ r: CP2KRun) -> [Double?] {
            var byStep: [Int: Double] = [:]
            for e in r.energies where byStep[e.step] == nil { byStep[e.step] = e.potential }
            return r.frames.map { $0.step.flatMap { byStep[$0] } }
        }
        var out = energies(run)
        var sources = Array(repeating: run.directory, count: out.count)
        for r in extra {
            let e = energies(r)
            let picked = Swift.stride(from: 0, to: e.count, by: max(1, stride)).map { e[$0] }
            out += picked
            sources += Array(repeating: r.directory, count: picked.count)
        }
        return (out, sources)
    }

    /// Adds dU/dtheta of one agent (species block at `offset`) to an energy row: u_a for w_a and,
    /// for W, u_a^2 / 2 (diagonal) and u_a u_b (a < b), u = phi - centre (`LossFitter.fillRow`'s
    /// parameter order; the force rows of `addRows` are minus the gradients of these).
    static func addEnergy(_ row: UnsafeMutablePointer<Double>, offset: Int, P: Int, form: LossForm,
                          phi: UnsafeMutableBufferPointer<Double>, centre: [Double]) {
        let r = row + offset
        for a in 0..<P { r[a] += phi[a] - centre[a] }
        switch form {
        case .linear: break
        case .diagonal:
            for a in 0..<P { let u = phi[a] - centre[a]; r[P + a] += 0.5 * u * u }
        case .full:
            var i = P
            for a in 0..<P {
                let ua = phi[a] - centre[a]
                r[i] += 0.5 * ua * ua; i += 1
                for b in (a + 1)..<max(P, a + 1) { r[i] += ua * (phi[b] - centre[b]); i += 1 }
            }
        }
    }

    /// The energy rows (length `M`, see `addEnergy`) of `frames`, each the sum over its agents.
    static func energyRows(frames: [Configuration], spec: InvariantSpec, centre: [[Double]], form: LossForm,
                           M: Int, threads: Int, file: String) throws -> [[Double]] {
        guard let first = frames.first else { return [] }
        let P = spec.count, m = form.parameterCount(P), n = first.count
        let species = first.species.map { Int32($0) }
        let all = (0..<n).map { Int32($0) }
        let t = max(1, min(threads, frames.count))
        let evaluators = (0..<t).map { _ in InvariantEvaluator(spec: spec) }
        let out = UnsafeMutablePointer<Double>.allocate(capacity: max(1, frames.count * M))
        defer { out.deallocate() }
        out.initialize(repeating: 0, count: max(1, frames.count * M))
        try parallelForEach(count: frames.count, threads: t) { th, f in
            let c = frames[f], ev = evaluators[th]
            try c.positions.withUnsafeBufferPointer { pos in
                try species.withUnsafeBufferPointer { sp in
                    try all.withUnsafeBufferPointer { cand in
                        for k in 0..<n {
                            do {
                                try ev.evaluate(agent: k, positions: pos, species: sp, box: c.box, candidates: cand)
                            } catch let MLDError.numerical(msg) {
                                throw MLDError.input(file: file, line: nil, problem: msg)
                            }
                            let A = Int(sp[k])
                            addEnergy(out + f * M, offset: A * m, P: P, form: form, phi: ev.phi, centre: centre[A])
                        }
                    }
                }
            }
        }
        return (0..<frames.count).map { Array(UnsafeBufferPointer(start: out + $0 * M, count: M)) }
    }

    /// `EnergyErrors` of the parameters `x` (length >= M) from the energy rows and CP2K energies
    /// of the training and test frames.
    static func energyErrors(weight: Double, x: [Double], trainRows: [[Double]], trainEnergies: [Double],
                             testRows: [[Double]], testEnergies: [Double], atoms: Int) -> EnergyErrors {
        func u(_ row: [Double]) -> Double { zip(row, x).reduce(0) { $0 + $1.0 * $1.1 } }
        let dTrain = zip(trainRows, trainEnergies).map { $1 - u($0) }
        let offset = dTrain.reduce(0, +) / Double(max(dTrain.count, 1))
        func rms(_ d: [Double]) -> Double {
            (d.reduce(0) { $0 + $1 * $1 } / Double(max(d.count, 1))).squareRoot() * 1000 / Double(max(atoms, 1))
        }
        let dTest = zip(testRows, testEnergies).map { $1 - u($0) - offset }
        let mean = testEnergies.reduce(0, +) / Double(max(testEnergies.count, 1))
        return EnergyErrors(weight: weight, offset: offset, trainRMSE: rms(dTrain.map { $0 - offset }),
                            testRMSE: rms(dTest), testSpread: rms(testEnergies.map { $0 - mean }))
    }
}
