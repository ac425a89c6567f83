import Foundation

/// One block's share of the sums a fused pass takes while it updates the atoms.
struct PassSums {
    /// sum m v.v over the velocities the pass leaves behind, in u Å²/fs².
    var twiceKinetic = 0.0
    /// sum m v, in u Å/fs.
    var momentum = SIMD3<Double>()
    /// sum F.dq, in eV.
    var work = 0.0
    /// sum m dq, in u Å.
    var massDisplacement = SIMD3<Double>()
    /// sum F, in eV/Å.
    var netForce = SIMD3<Double>()
    /// The largest squared drift of one atom (Å², NaN counts as largest) and that atom.
    var largestMove2 = 0.0
    var largestMoveAtom = 0
    /// The first atom whose force is not finite, or -1.
    var nonFinite = -1

    /// Adds the sums of the next block (blocks are added in order).
    @inline(__always)
    mutating func add(_ o: PassSums) {
        twiceKinetic += o.twiceKinetic
        momentum += o.momentum
        work += o.work
        massDisplacement += o.massDisplacement
        netForce += o.netForce
        if o.largestMove2 > largestMove2 || (o.largestMove2.isNaN && !largestMove2.isNaN) {
            largestMove2 = o.largestMove2; largestMoveAtom = o.largestMoveAtom
        }
        if nonFinite < 0 { nonFinite = o.nonFinite }
    }
}

extension AtomBlocks {
    /// Runs `body` on every block's atoms and adds the blocks' sums in block order.
    @inline(__always)
    func reduce(_ body: (Range<Int>) -> PassSums) -> PassSums {
        let parts = UnsafeMutableBufferPointer<PassSums>.allocate(capacity: count)
        parts.initialize(repeating: PassSums())
        defer { parts.deallocate() }
        forEach { b in parts[b] = body(range(b)) }
        var total = PassSums()
        for b in 0..<count { total.add(parts[b]) }
        return total
    }
}

/// Wall seconds of each phase of the MD steps so far (see `Simulation.advance`).
public struct StepPhaseSeconds: Codable, Sendable, Equatable {
    /// The backend's force evaluation, neighbour-list rebuilds included (they are also in `rebuild`
    /// where the backend reports them).
    public var force = 0.0
    /// Kicks, drift, the force checks, centre-of-mass removal and the energy ledger.
    public var integration = 0.0
    /// The thermostat's half steps (the passes and chain updates that only the thermostat needs).
    public var thermostat = 0.0
    /// Observables of the output steps: the O-H bond sample.
    public var output = 0.0
    public init() {}
}

/// The fused velocity Verlet step: every per-atom update of a step in five passes over the atoms,
/// each run on all cores in fixed blocks (`AtomBlocks`), so that results do not depend on the
/// thread count and a resumed run repeats the uninterrupted one bit for bit.
///
/// Phases of one step of dt (fs), h = dt/2, for a thermostat that acts in the half steps:
/// 1. Thermostat, first half: the global chain (or CSVR) turns the kinetic energy kept from the
///    last pass into one scale factor s; the massive chain scales every atom by its own chain
///    (pass 1) and sums the momentum P it leaves, whose centre-of-mass velocity V = P/M is removed
///    in pass 2 when centre-of-mass motion is removed.
/// 2. Pass 2, kick and drift: v <- s v - V + h F/m; q <- q + dt v; the displacement dq, the
///    largest one (blow-up check) and sum F.dq (the energy ledger's old-force half).
/// 3. Forces from the backend (it wraps the positions and rebuilds its list when due).
/// 4. Pass 3, checks: the first non-finite force, the net force, sum F.dq and sum m dq (the
///    ledger's new-force half, corrected below for the centre-of-mass removal).
/// 5. Pass 4, closing kick: F <- F - m F_net/M; v <- v + h F/m; the massive chain's second half
///    step per atom (summing P again), else sum m v.v.
/// 6. Thermostat, second half: the global chain (or CSVR) scales by s from that kinetic energy;
///    pass 5 applies s (or removes V = P/M after the massive chains) and sums m v.v, which is the
///    temperature of the step and the kinetic energy the next step's first half uses.
///
/// Langevin (BAOAB) acts in the middle of the drift and keeps the unfused path (`advanceLangevin`).
extension Simulation {
    /// One step of dt. Throws `MLDError.simulation` naming the step and atom when the dynamics
    /// blows up (non-finite force, an atom jumping more than `maxDisplacement`, temperature above
    /// the limit); the state is then that of the failed step.
    public func advance() throws {
        if let resident { try advanceResident(resident); return }
        if thermostat.actsInDrift { return try advanceLangevin() }
        let dt = settings.timeStep, h = 0.5 * dt
        let next = step + 1
        var clock = DispatchTime.now().uptimeNanoseconds
        @inline(__always) func lap(_ t: inout Double) {
            let now = DispatchTime.now().uptimeNanoseconds
            t += Double(now - clock) * 1e-9
            clock = now
        }

        // 1. Thermostat, first half.
        let (scale, shift) = openingHalfStep(dt)
        lap(&phaseSeconds.thermostat)

        // 2. Kick and drift.
        if displacements.count != positions.count { displacements = positions.map { _ in .zero } }
        let drift = withAtoms { a in
            blocks.reduce { r in
                var s = PassSums()
                for i in r {
                    var v = a.v[i] * scale - shift
                    v += (h * a.accel[i]) * a.f[i]
                    a.v[i] = v
                    let q = a.q[i], d = dt * v
                    let qn = q + d
                    a.q[i] = qn
                    let dq = qn - q
                    a.dq[i] = dq
                    s.work += (a.f[i] * dq).sum()
                    let d2 = (d * d).sum()
                    if d2 > s.largestMove2 || (d2.isNaN && !s.largestMove2.isNaN) { s.largestMove2 = d2; s.largestMoveAtom = i }
                }
                return s
            }
        }
        lap(&phaseSeconds.integration)
        let jump = drift.largestMove2.squareRoot()
        guard jump <= settings.maxDisplacement else {
            let atom = drift.largestMoveAtom
            throw MLDError.simulation(step: next, problem: "atom \(atom) (\(elements[species[atom]])) moved \(String(format: "%.3g", jump)) Å in one step (limit \(settings.maxDisplacement) Å)")
        }
        step = next

        // 3. Forces.
        try evaluateForces(wantLosses: next % settings.every == 0)
        lap(&phaseSeconds.force)

        // 4. Checks, net force, the new forces' work.
        let check = withAtoms { a in
            blocks.reduce { r in
                var s = PassSums()
                for i in r {
                    let f = a.f[i]
                    if !(f.x.isFinite && f.y.isFinite && f.z.isFinite) && s.nonFinite < 0 { s.nonFinite = i }
                    s.netForce += f
                    let dq = a.dq[i]
                    s.work += (f * dq).sum()
                    s.massDisplacement += a.m[i] * dq
                }
                return s
            }
        }
        if check.nonFinite >= 0 {
            let i = check.nonFinite, f = forces[i]
            throw MLDError.simulation(step: step, problem: "atom \(i) (\(elements[species[i]])): the force is not finite (\(f.x), \(f.y), \(f.z) eV/Å)")
        }
        netForce = check.netForce
        let removal = settings.removeCentreOfMass ? check.netForce / totalMass : .zero
        forceWork += 0.5 * (drift.work + check.work - (removal * check.massDisplacement).sum())

        // 5. Closing kick (with the massive chains' second half step).
        var close: PassSums
        if case .massive(var chains) = thermostat {
            thermostat = .none   // release the storage so it is mutated in place
            close = chains.withKernel(dt: dt) { k in
                withAtoms { a in
                    blocks.reduce { r in
                        var s = PassSums()
                        @inline(__always) func kick(_ i: Int) -> SIMD3<Double> {
                            let f = a.f[i] - a.m[i] * removal
                            a.f[i] = f
                            return a.v[i] + (h * a.accel[i]) * f
                        }
                        @inline(__always) func add(_ i: Int, _ v: SIMD3<Double>) {
                            let m = a.m[i]
                            a.v[i] = v
                            s.momentum += m * v
                            s.twiceKinetic += m * (v * v).sum()
                        }
                        // Two atoms at a time, their chains in one vector.
                        var i = r.lowerBound
                        while i + 1 < r.upperBound {
                            let (v0, v1) = k.scalePair(i, kick(i), mass: a.m[i], kick(i + 1), mass: a.m[i + 1])
                            add(i, v0)
                            add(i + 1, v1)
                            i += 2
                        }
                        if i < r.upperBound { add(i, k.scale(i, kick(i), mass: a.m[i])) }
                        return s
                    }
                }
            }
            thermostat = .massive(chains)
        } else {
            close = withAtoms { a in
                blocks.reduce { r in
                    var s = PassSums()
                    for i in r {
                        let m = a.m[i]
                        let f = a.f[i] - m * removal
                        a.f[i] = f
                        let v = a.v[i] + (h * a.accel[i]) * f
                        a.v[i] = v
                        s.twiceKinetic += m * (v * v).sum()
                    }
                    return s
                }
            }
        }
        lap(&phaseSeconds.integration)

        // 6. Thermostat, second half.
        twiceKineticSum = closingHalfStep(dt, after: close)
        lap(&phaseSeconds.thermostat)

        try finishStep(next)
        if next % settings.every == 0 && samplesBonds {
            sampleBonds()
            lap(&phaseSeconds.output)
        }
    }

    /// Phase 1: the scale factor for every velocity and the centre-of-mass velocity (Å/fs) to
    /// remove after it. The massive chains scale the velocities here themselves (scale 1).
    @inline(never)
    private func openingHalfStep(_ dt: Double) -> (scale: Double, shift: SIMD3<Double>) {
        let mvs = Units.massVelocitySquared
        switch thermostat {
        case .none, .langevin:
            return (1, .zero)
        case .noseHoover(var chain):
            let s = chain.halfStep(twiceKinetic: twiceKineticSum * mvs, dt: dt)
            thermostat = .noseHoover(chain)
            return (s, .zero)
        case .csvr(var t):
            let s = t.halfStep(kinetic: 0.5 * twiceKineticSum * mvs, dt: dt)
            thermostat = .csvr(t)
            return (s, .zero)
        case .massive(var chains):
            thermostat = .none
            let p = chains.withKernel(dt: dt) { k in
                withAtoms { a in
                    blocks.reduce { r in
                        var s = PassSums()
                        // Two atoms at a time, their chains in one vector.
                        var i = r.lowerBound
                        while i + 1 < r.upperBound {
                            let m0 = a.m[i], m1 = a.m[i + 1]
                            let (v0, v1) = k.scalePair(i, a.v[i], mass: m0, a.v[i + 1], mass: m1)
                            a.v[i] = v0
                            a.v[i + 1] = v1
                            s.momentum += m0 * v0
                            s.momentum += m1 * v1
                            i += 2
                        }
                        if i < r.upperBound {
                            let m = a.m[i]
                            let v = k.scale(i, a.v[i], mass: m)
                            a.v[i] = v
                            s.momentum += m * v
                        }
                        return s
                    }
                }
            }.momentum
            thermostat = .massive(chains)
            return (1, settings.removeCentreOfMass ? p / totalMass : .zero)
        }
    }

    /// Phase 6: the thermostat's second half step after the closing kick, whose pass summed
    /// `close`; returns sum m v.v (u Å²/fs²) of the velocities it leaves.
    @inline(never)
    private func closingHalfStep(_ dt: Double, after close: PassSums) -> Double {
        let mvs = Units.massVelocitySquared
        var scale = 1.0, shift = SIMD3<Double>.zero
        switch thermostat {
        case .none, .langevin:
            return close.twiceKinetic
        case .noseHoover(var chain):
            scale = chain.halfStep(twiceKinetic: close.twiceKinetic * mvs, dt: dt)
            thermostat = .noseHoover(chain)
        case .csvr(var t):
            scale = t.halfStep(kinetic: 0.5 * close.twiceKinetic * mvs, dt: dt)
            thermostat = .csvr(t)
        case .massive:
            guard settings.removeCentreOfMass else { return close.twiceKinetic }
            shift = close.momentum / totalMass
        }
        return withAtoms { a in
            blocks.reduce { r in
                var s = PassSums()
                for i in r {
                    let v = a.v[i] * scale - shift
                    a.v[i] = v
                    s.twiceKinetic += a.m[i] * (v * v).sum()
                }
                return s
            }
        }.twiceKinetic
    }

    /// The end of every step: the temperature check and the running statistics.
    func finishStep(_ next: Int) throws {
        let T = temperature
        guard T <= settings.temperatureLimit else {
            var hot = 0, most = -1.0
            for i in 0..<velocities.count {
                let e = masses[i] * (velocities[i] * velocities[i]).sum()
                if e > most { most = e; hot = i }
            }
            throw MLDError.simulation(step: next, problem: "temperature \(String(format: "%.0f", T)) K exceeds the limit \(String(format: "%.0f", settings.temperatureLimit)) K (hottest atom \(hot) (\(elements[species[hot]])), \(String(format: "%.3g", 0.5 * most * Units.massVelocitySquared)) eV)")
        }
        statistics.steps += 1
        statistics.sumT += T
        statistics.sumT2 += T * T
        statistics.sumNetForce += (netForce * netForce).sum().squareRoot() / Double(forces.count)
    }

    /// sum m v.v (u Å²/fs²) of the current velocities, in the blocks' order (what the fused passes
    /// leave in `twiceKineticSum`).
    func blockedTwiceKinetic() -> Double {
        withAtoms { a in
            blocks.reduce { r in
                var s = PassSums()
                for i in r { let v = a.v[i]; s.twiceKinetic += a.m[i] * (v * v).sum() }
                return s
            }
        }.twiceKinetic
    }

    /// Raw views of the per-atom arrays for the duration of `body`.
    @inline(__always)
    func withAtoms<R>(_ body: (AtomArrays) throws -> R) rethrows -> R {
        try positions.withUnsafeMutableBufferPointer { q in
            try velocities.withUnsafeMutableBufferPointer { v in
                try forces.withUnsafeMutableBufferPointer { f in
                    try displacements.withUnsafeMutableBufferPointer { dq in
                        try masses.withUnsafeBufferPointer { m in
                            try accel.withUnsafeBufferPointer { acc in
                                try body(AtomArrays(q: q.baseAddress!, v: v.baseAddress!, f: f.baseAddress!,
                                                    dq: dq.baseAddress ?? f.baseAddress!, m: m.baseAddress!,
                                                    accel: acc.baseAddress!))
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Raw views of a simulation's per-atom arrays for the fused passes.
struct AtomArrays: @unchecked Sendable {
    /// Positions (Å), velocities (Å/fs), forces (eV/Å) and the last drift's displacements (Å).
    let q: UnsafeMutablePointer<SIMD3<Double>>
    let v: UnsafeMutablePointer<SIMD3<Double>>
    let f: UnsafeMutablePointer<SIMD3<Double>>
    let dq: UnsafeMutablePointer<SIMD3<Double>>
    /// Masses (u) and `Units.forceOverMass / m` (Å/fs² per eV/Å).
    let m: UnsafePointer<Double>
    let accel: UnsafePointer<Double>
}
