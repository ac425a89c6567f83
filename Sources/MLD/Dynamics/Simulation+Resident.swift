import Foundation

/// What a `Simulation` keeps on the host while its state lives on a device (`ResidentDynamics`):
/// the device, the kinetic sums of the current velocities (the thermostat's input) and whether
/// the host arrays are up to date.
final class ResidentState {
    let device: any ResidentDynamics
    /// `sum m |v|^2` of the current velocities (u Å²/fs²), and per atom for a massive thermostat.
    var twiceKinetic = 0.0
    var perAtom: [Double]?
    /// Whether `positions`, `velocities` and `forces` of the simulation hold the device's state.
    var hostCurrent = true

    init(device: any ResidentDynamics) { self.device = device }
}

extension Simulation {
    /// Whether the steps run on a device (`makeResident`).
    public var isResident: Bool { resident != nil }

    /// The device's bytes moved and phase seconds, when the steps run on one.
    public var residentDevice: (any ResidentDynamics)? { resident?.device }

    /// Moves the state to `device`: from now on `advance()` runs velocity Verlet and the
    /// thermostat's velocity scaling there, the host keeping the thermostat's variables (it reads
    /// the kinetic sums, per atom for one chain per agent, and sends back the scale factors). The
    /// host arrays are refreshed on output steps (multiples of `every`) and by `synchronize()`.
    /// Langevin is refused: it draws a random number per atom and step on the host.
    public func makeResident(_ device: any ResidentDynamics) throws {
        if thermostat.actsInDrift {
            throw MLDError.usage("--resident runs the nose-hoover, csvr and none thermostats on the device; \(thermostat.name) draws random numbers per atom on the host: run it without --resident")
        }
        try device.load(positions: positions, velocities: velocities, forces: forces)
        let r = ResidentState(device: device)
        var perAtom: [Double]? = thermostat.isMassive ? [] : nil
        r.twiceKinetic = try device.scale(1, perAtomScale: nil, shift: .zero, perAtomKinetic: &perAtom).twiceKinetic
        r.perAtom = perAtom
        resident = r
    }

    /// Copies the device's positions, velocities and forces into the host arrays (a no-op on
    /// the host path or when they are current). Called before every frame and checkpoint.
    public func synchronize() throws {
        guard let r = resident, !r.hostCurrent else { return }
        try r.device.download(positions: &positions, velocities: &velocities, forces: &forces)
        r.hostCurrent = true
    }

    /// One step on the device: the same sequence as `advance()` (thermostat half step, kick,
    /// drift, forces, centre-of-mass removal, kick, thermostat half step, checks, statistics).
    func advanceResident(_ r: ResidentState) throws {
        let dt = settings.timeStep
        let next = step + 1
        let d = r.device
        r.hostCurrent = false
        let first = try residentHalfStep(r, dt, foldable: true)
        let move = try d.kickDrift(scale: first.scale, shift: first.shift, h: 0.5 * dt, dt: dt)
        guard move.largestMove <= settings.maxDisplacement else {
            let atom = max(0, move.atom)
            throw MLDError.simulation(step: next, problem: "atom \(atom) (\(elements[species[atom]])) moved \(String(format: "%.3g", move.largestMove)) Å in one step (limit \(settings.maxDisplacement) Å)")
        }
        step = next
        let t0 = DispatchTime.now().uptimeNanoseconds
        var l: [Double]? = next % settings.every == 0 ? losses : nil
        let net = try d.computeForces(losses: &l)
        if let l { losses = l }
        forceSeconds += Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9
        guard net.x.isFinite && net.y.isFinite && net.z.isFinite else {
            try synchronize()
            let i = forces.firstIndex { !($0.x.isFinite && $0.y.isFinite && $0.z.isFinite) } ?? 0
            let f = forces[i]
            throw MLDError.simulation(step: step, problem: "atom \(i) (\(elements[species[i]])): the force is not finite (\(f.x), \(f.y), \(f.z) eV/Å)")
        }
        netForce = net
        var perAtom: [Double]? = thermostat.isMassive ? (r.perAtom ?? []) : nil
        let kick = try d.correctAndKick(comAcceleration: settings.removeCentreOfMass ? net / totalMass : .zero,
                                        removeCentreOfMass: settings.removeCentreOfMass, h: 0.5 * dt,
                                        perAtomKinetic: &perAtom)
        forceWork += 0.5 * (move.work + kick.work)
        r.twiceKinetic = kick.twiceKinetic
        r.perAtom = perAtom
        _ = try residentHalfStep(r, dt, foldable: false)
        let T = r.twiceKinetic * Units.massVelocitySquared / (degreesOfFreedom * Units.boltzmann)
        guard T <= settings.temperatureLimit else {
            try synchronize()
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
        if next % settings.every == 0 {
            try synchronize()
            sampleBonds()
        }
    }

    /// The thermostat's half step on the device's velocities. The host propagates the chain (or
    /// draws CSVR's numbers) from the kinetic sums and returns one factor to fold into the next
    /// kick when `foldable` and the thermostat scales every atom alike; otherwise the device
    /// scales now (per atom for a massive chain, then the centre-of-mass velocity that creates is
    /// removed, as `thermostatHalfStep` does) and `r` gets the new kinetic sums.
    private func residentHalfStep(_ r: ResidentState, _ dt: Double, foldable: Bool) throws
        -> (scale: Double, shift: SIMD3<Double>) {
        let d = r.device
        let (s, perAtomScale) = thermostat.residentHalfStep(twiceKinetic: r.twiceKinetic, perAtom: r.perAtom, dt: dt)
        let removeCOM = settings.removeCentreOfMass
        if let perAtomScale {
            // Per atom now; the centre-of-mass velocity that creates is removed (folded into the
            // kick after the first half step, at once after the second).
            var kinetic: [Double]? = foldable || removeCOM ? nil : (r.perAtom ?? [])
            let scaled = try d.scale(1, perAtomScale: perAtomScale, shift: .zero, perAtomKinetic: &kinetic)
            let shift = removeCOM ? scaled.momentum / totalMass : SIMD3<Double>()
            if foldable { return (1, shift) }
            if removeCOM {
                kinetic = r.perAtom ?? []
                r.twiceKinetic = try d.scale(1, perAtomScale: nil, shift: shift, perAtomKinetic: &kinetic).twiceKinetic
            } else {
                r.twiceKinetic = scaled.twiceKinetic
            }
            r.perAtom = kinetic
            return (1, .zero)
        }
        if foldable { return (s, .zero) }
        if case .none = thermostat { return (1, .zero) }   // nothing scaled: the sums stand
        var unused: [Double]? = nil
        r.twiceKinetic = try d.scale(s, perAtomScale: nil, shift: .zero, perAtomKinetic: &unused).twiceKinetic
        return (1, .zero)
    }
}

extension Thermostat {
    /// Whether there is one chain per agent (scale factors per atom).
    var isMassive: Bool {
        if case .massive = self { return true }
        return false
    }

    /// Half a step (dt in fs) from the kinetic sums of the velocities instead of the velocities:
    /// `twiceKinetic` = sum m |v|^2 and `perAtom` its terms (u Å²/fs²). Returns the factor every
    /// velocity is scaled by, or the factors per atom (massive). The state advances exactly as
    /// `halfStep` advances it for those velocities. Langevin does nothing here (refused on the
    /// device path).
    mutating func residentHalfStep(twiceKinetic: Double, perAtom: [Double]?, dt: Double) -> (Double, [Double]?) {
        switch self {
        case .none, .langevin:
            return (1, nil)
        case .noseHoover(var chain):
            let s = chain.halfStep(twiceKinetic: twiceKinetic * Units.massVelocitySquared, dt: dt)
            self = .noseHoover(chain)
            return (s, nil)
        case .massive(var chains):
            self = .none   // release the storage so it is mutated in place
            let s = chains.scales(twiceKinetic: perAtom ?? [], dt: dt)
            self = .massive(chains)
            return (1, s)
        case .csvr(var t):
            let s = t.halfStep(kinetic: 0.5 * twiceKinetic * Units.massVelocitySquared, dt: dt)
            self = .csvr(t)
            return (s, nil)
        }
    }
}

extension MassiveNoseHooverChain {
    /// Half a step (dt in fs) of every chain from its atom's `m |v|^2` (u Å²/fs²); returns the
    /// factor each atom's velocity is scaled by. The same propagation as `halfStep`.
    mutating func scales(twiceKinetic ke: [Double], dt: Double) -> [Double] {
        let M = length, nf = degreesOfFreedom, kT = Units.boltzmann * temperature, tau = self.tau
        let w = NoseHooverChain.weights(order: order), n = substeps
        let count = ke.count
        var out = [Double](repeating: 1, count: count)
        let blocks = count >= 2048 ? 4 * AvailableCores.count : 1
        let per = (count + blocks - 1) / blocks
        xi.withUnsafeMutableBufferPointer { x in
            vxi.withUnsafeMutableBufferPointer { vx in
                out.withUnsafeMutableBufferPointer { o in
                    ke.withUnsafeBufferPointer { ke in
                        let x = x, vx = vx, o = o
                        let ofOne = M == 1 ? ChainOfOneSteps(dt: dt, weights: w, substeps: n, degreesOfFreedom: nf,
                                                             kT: kT, tau: tau) : nil
                        defer { ofOne?.deallocate() }
                        DispatchQueue.concurrentPerform(iterations: blocks) { b in
                            for i in AtomBlocks.range(b, per: per, count: count) {
                                if let ofOne {
                                    o[i] = ofOne.propagate(xi: x.baseAddress! + i, vxi: vx.baseAddress! + i,
                                                           twiceKinetic: ke[i] * Units.massVelocitySquared)
                                    continue
                                }
                                o[i] = NoseHooverChain.propagate(
                                    xi: x.baseAddress! + i * M, vxi: vx.baseAddress! + i * M, length: M,
                                    degreesOfFreedom: nf, kT: kT, tau: tau,
                                    twiceKinetic: ke[i] * Units.massVelocitySquared, dt: dt,
                                    weights: w, substeps: n)
                            }
                        }
                    }
                }
            }
        }
        return out
    }
}
