import Foundation

/// Every observable of one water trajectory, computed with the same settings for a
/// reference and a learned run so that they can be compared.
public struct WaterObservables: Sendable {
    /// Where the trajectory came from and what it is ("cp2k" or "mld run").
    public var source: String, kind: String
    /// Number of frames, frame spacing (fs) and time spanned (fs).
    public var frames: Int, spacing: Double, duration: Double
    public var kinetic: KineticEnergySeries
    public var bonds: BondLengths
    /// Kinetic temperature of the O-H stretch (velocities along the bonds).
    public var stretch: BondStretch
    public var angles: BondAngles
    public var angleDistribution: Histogram
    /// g_OO, g_OH, g_HH in that order.
    public var rdfs: [RadialDistribution]
    public var msd: MeanSquaredDisplacement
    public var spectrum: VibrationalSpectrum
    /// Largest relative difference between the kinetic energy from the frame velocities and the
    /// run's own energy log (`.ener` or `thermo.csv`) at the same steps; nil without a log.
    public var kineticLogMismatch: Double?

    /// The element pairs of `rdfs`.
    public static let rdfPairs = [("O", "O"), ("O", "H"), ("H", "H")]

    public init(_ t: Trajectory, options: ComparisonOptions = ComparisonOptions()) throws {
        source = t.source
        kind = t.kind
        frames = t.frameCount
        spacing = try t.uniformSpacing()
        duration = t.duration
        kinetic = try KineticEnergySeries(t)
        bonds = try BondLengths(t, assigned: "H", partner: "O")
        stretch = try BondStretch(t, bonds: bonds)
        angles = try BondAngles(t, center: "O", arm: "H")
        angleDistribution = angles.distribution(binWidth: options.angleBinWidth)
        rdfs = try WaterObservables.rdfPairs.map {
            try RadialDistribution(t, $0.0, $0.1, binWidth: options.rdfBinWidth)
        }
        msd = try MeanSquaredDisplacement(t, element: "O", removeCentreOfMassDrift: true,
                                          fitWindow: options.msdFitWindow)
        spectrum = try VibrationalSpectrum(t)
        let logged = Dictionary(t.thermo.map { ($0.step, $0.kinetic) }, uniquingKeysWith: { a, _ in a })
        let pairs = t.steps.indices.compactMap { k in t.steps[k].flatMap { logged[$0] }.map { (kinetic.kinetic[k], $0) } }
        kineticLogMismatch = pairs.isEmpty ? nil : pairs.map { abs($0.0 - $0.1) / max(abs($0.1), 1e-12) }.max()
    }
}

/// Settings of a comparison.
public struct ComparisonOptions: Sendable {
    /// Hydrogens (0-based atom indices) whose O-H bond is shown over time; nil: a seeded
    /// random choice of `hydrogenCount`.
    public var hydrogens: [Int]?
    /// Seed of that random choice.
    public var seed: UInt64 = 1
    /// How many hydrogens to pick at random.
    public var hydrogenCount = 4
    /// RDF bin width, in Å.
    public var rdfBinWidth = 0.02
    /// H-O-H angle histogram bin width, in degrees.
    public var angleBinWidth = 1.0
    /// Lags (fs) of the MSD line fit; nil: 20%-50% of the shorter run (the same for both).
    public var msdFitWindow: ClosedRange<Double>? = nil

    public init() {}
}

/// One scalar measured on both trajectories.
public struct ComparedScalar: Sendable, Encodable {
    /// Identifier (snake case, unit suffix).
    public var name: String
    /// Unit, "" for dimensionless or counts.
    public var unit: String
    /// What it is, one line.
    public var description: String
    public var reference: Double?
    public var learned: Double?

    /// learned - reference.
    public var difference: Double? {
        guard let r = reference, let l = learned else { return nil }
        return l - r
    }
    /// (learned - reference) / |reference|; nil when reference is 0.
    public var relativeDifference: Double? {
        guard let d = difference, let r = reference, r != 0 else { return nil }
        return d / abs(r)
    }

    enum CodingKeys: String, CodingKey {
        case name, unit, description, reference, learned, difference
        case relativeDifference = "relative_difference"
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .name)
        try c.encode(unit, forKey: .unit)
        try c.encode(description, forKey: .description)
        for (k, v) in [(CodingKeys.reference, reference), (.learned, learned),
                       (.difference, difference), (.relativeDifference, relativeDifference)] {
            if let v, v.isFinite { try c.encode(v, forKey: k) } else { try c.encodeNil(forKey: k) }
        }
    }
}

/// A reference (CP2K) and a learned (`mld run`) trajectory compared observable by observable.
public struct Comparison: Sendable {
    public var reference: WaterObservables
    public var learned: WaterObservables
    /// The hydrogens whose bond series are shown (0-based atom indices).
    public var hydrogens: [Int]
    /// Every scalar, side by side.
    public var scalars: [ComparedScalar]
    /// Caveats a reader must know (run length, aliasing, drift, ...).
    public var notes: [String]

    public init(reference ref: Trajectory, learned run: Trajectory,
                options: ComparisonOptions = ComparisonOptions()) throws {
        guard ref.species.map({ ref.elements[$0].symbol }) == run.species.map({ run.elements[$0].symbol }) else {
            throw MLDError.usage("\(ref.source) and \(run.source) do not hold the same atoms in the same order (\(ref.atomCount) vs \(run.atomCount) atoms)")
        }
        let hydrogenAtoms = ref.atoms(of: "H")
        if let chosen = options.hydrogens {
            for i in chosen where !hydrogenAtoms.contains(i) {
                throw MLDError.usage("--atoms: atom \(i) is not a hydrogen (hydrogens are 0-based indices such as \(hydrogenAtoms.prefix(4).map(String.init).joined(separator: ",")))")
            }
            hydrogens = chosen
        } else {
            hydrogens = Comparison.pick(options.hydrogenCount, from: hydrogenAtoms, seed: options.seed)
        }
        // One MSD fit window for both, 20%-50% of the shorter run, unless one was given.
        var shared = options
        if shared.msdFitWindow == nil {
            let shortest = min(ref.duration, run.duration)
            shared.msdFitWindow = (0.2 * shortest)...(0.5 * shortest)
        }
        reference = try WaterObservables(ref, options: shared)
        learned = try WaterObservables(run, options: shared)
        var notes: [String] = []
        let dl: SIMD3<Double> = ref.box.lengths - run.box.lengths
        let edgeDifference = max(abs(dl.x), max(abs(dl.y), abs(dl.z)))
        if edgeDifference > 1e-9 * ref.box.shortestEdge {
            notes.append("The boxes differ (reference \(ref.box), learned \(run.box)).")
        }
        for (tag, o) in [("reference", reference), ("learned", learned)] {
            notes.append(String(format: "%@ %@ (%@): %d frames every %.3g fs from %.1f to %.1f fs (%.1f fs in all); MSD fit over lags %.0f-%.0f fs.",
                                tag, o.source, o.kind, o.frames, o.spacing, o.bonds.times.first!, o.bonds.times.last!, o.duration,
                                o.msd.fitWindow.lowerBound, o.msd.fitWindow.upperBound))
        }
        for (tag, o) in [("reference", reference), ("learned", learned)] {
            if let m = o.kineticLogMismatch, m > 1e-3 {
                notes.append(String(format: "%@: the kinetic energy from the frame velocities differs from the run's energy log by up to %.2g%% (velocities written at another point of the step, or other masses?).", tag, 100 * m))
            }
        }
        let shortest = min(reference.duration, learned.duration)
        if shortest < 10_000 {
            notes.append(String(format: "The runs are short (%.0f fs): diffusion coefficients from a few hundred fs are dominated by the ballistic and cage regimes and are indicative only (liquid water at 300 K: about 2.3e-5 cm^2/s); a converged value needs tens of ps.", shortest))
        }
        for o in [reference, learned] where o.spectrum.nyquist < VibrationalSpectrum.stretchRange.upperBound {
            notes.append(String(format: "%@: frames every %.3g fs limit the spectrum to %.0f cm^-1 (Nyquist); peaks above it are aliased and not reported. Write frames more often (e.g. --every 1 or 2 at 0.5 fs) to see the O-H stretch.",
                                o.source, o.spacing, o.spectrum.nyquist))
        }
        self.notes = notes
        scalars = Comparison.scalars(reference, learned)
    }

    /// `count` distinct atoms of `atoms` chosen by a seeded generator (SplitMix64), sorted.
    public static func pick(_ count: Int, from atoms: [Int], seed: UInt64) -> [Int] {
        var rng = SplitMix64(seed: seed)
        var pool = atoms
        var out: [Int] = []
        while out.count < min(count, atoms.count) {
            let k = Int(rng.next() % UInt64(pool.count))
            out.append(pool.remove(at: k))
        }
        return out.sorted()
    }

    static func scalars(_ r: WaterObservables, _ l: WaterObservables) -> [ComparedScalar] {
        var out: [ComparedScalar] = []
        func add(_ name: String, _ unit: String, _ description: String,
                 _ f: (WaterObservables) -> Double?) {
            out.append(ComparedScalar(name: name, unit: unit, description: description,
                                      reference: f(r), learned: f(l)))
        }
        add("duration_fs", "fs", "time spanned by the frames") { $0.duration }
        add("frame_spacing_fs", "fs", "time between frames") { $0.spacing }
        add("mean_temperature_K", "K", "mean temperature, 3N-3 degrees of freedom") { $0.kinetic.meanTemperature }
        add("temperature_std_K", "K", "standard deviation of the temperature over time") { $0.kinetic.temperatureStd }
        add("mean_kinetic_eV", "eV", "mean kinetic energy") { $0.kinetic.meanKinetic }
        add("oh_bond_mean_A", "Å", "O-H bond length (each H to its nearest O), mean over time and atoms") { $0.bonds.mean }
        add("oh_bond_std_A", "Å", "O-H bond length, standard deviation over time and atoms") { $0.bonds.standardDeviation }
        add("oh_bond_min_A", "Å", "shortest O-H bond seen") { $0.bonds.minimum }
        add("oh_bond_max_A", "Å", "longest O-H bond seen") { $0.bonds.maximum }
        add("oh_stretch_temperature_K", "K", "kinetic temperature of the O-H stretch, mu <(dr/dt)^2> / k_B per bond (equals the temperature in equilibrium)") { $0.stretch.meanTemperature }
        add("oh_bond_std_300K_A", "Å", "O-H standard deviation rescaled to a 300 K stretch, std sqrt(300 K / stretch temperature): the bond stiffness whatever energy the stretch holds") {
            $0.stretch.standardDeviationAt(300, measured: $0.bonds.standardDeviation)
        }
        add("h_reassigned", "", "hydrogens whose nearest O changed during the run") { Double($0.bonds.reassignedAtoms) }
        add("hoh_angle_mean_deg", "deg", "H-O-H angle (O with its two nearest H), mean") { $0.angles.mean }
        add("hoh_angle_std_deg", "deg", "H-O-H angle, standard deviation") { $0.angles.standardDeviation }
        // Coordination shells are integrated to the reference's first minimum, for both.
        for (k, pair) in WaterObservables.rdfPairs.enumerated() {
            let tag = "g_\(pair.0)\(pair.1)"
            let key = "\(pair.0)\(pair.1)".lowercased()
            add("\(key)_rdf_peak_r_A", "Å", "\(tag) first peak position") { $0.rdfs[k].firstPeak()?.position }
            add("\(key)_rdf_peak_height", "", "\(tag) first peak height") { $0.rdfs[k].firstPeak()?.height }
            if k == 1 {
                // The covalent peak leaves g_OH at zero up to ~1.5 Å, so no minimum is defined.
                // GFN1-xTB's hydrogen-bond peak is a shoulder without a maximum; the number of
                // H within the usual geometric hydrogen-bond distance is robust instead.
                add("oh_hbond_count", "", "H of other molecules within 1.3-2.45 Å of an O (hydrogen bonds per O)") {
                    $0.rdfs[1].coordination(within: 2.45, from: 1.3)
                }
            } else {
                add("\(key)_rdf_min_r_A", "Å", "\(tag) first minimum after the first peak") { $0.rdfs[k].firstMinimum()?.position }
            }
            if k == 0, let rmin = r.rdfs[0].firstMinimum()?.position {
                add("oo_coordination", "", String(format: "O neighbours of an O within %.2f Å (reference g_OO first minimum)", rmin)) {
                    $0.rdfs[0].coordination(within: rmin)
                }
            }
        }
        add("o_diffusion_1e-5cm2_per_s", "1e-5 cm^2/s", "O self-diffusion coefficient, MSD slope / 6 over the fit window (short run: indicative)") { $0.msd.diffusionCm2PerS1e5 }
        add("o_msd_at_window_end_A2", "Å^2", "O mean squared displacement at the end of the fit window") { o in
            o.msd.lags.lastIndex { $0 <= o.msd.fitWindow.upperBound }.map { o.msd.msd[$0] }
        }
        add("com_drift_A", "Å", "displacement of the centre of mass over the run (removed from the MSD)") { $0.msd.centreOfMassDrift }
        add("oh_stretch_peak_cm-1", "cm^-1", "O-H stretch peak of the VDOS (2800-4000 cm^-1)") { $0.spectrum.peak(in: VibrationalSpectrum.stretchRange) }
        add("hoh_bend_peak_cm-1", "cm^-1", "H-O-H bend peak of the VDOS (1300-1900 cm^-1)") { $0.spectrum.peak(in: VibrationalSpectrum.bendRange) }
        add("spectrum_nyquist_cm-1", "cm^-1", "highest wavenumber the frame spacing resolves") { $0.spectrum.nyquist }
        return out
    }
}
