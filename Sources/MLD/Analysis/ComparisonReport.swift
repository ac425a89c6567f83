import Foundation

/// Writes a `Comparison` as a report directory: one CSV per series, `summary.json` and
/// `summary.csv` (every scalar side by side), one gnuplot script per figure rendered to SVG and
/// PNG, and `index.html` showing all figures with captions and the summary table.
///
/// The report is assembled in a temporary sibling directory and moved into place, so a
/// failure never leaves a half-written report; a directory that holds anything but an earlier
/// report is refused (`write(to:force:)`). gnuplot is found on `PATH` (or taken from the
/// `MLD_GNUPLOT` environment variable); without it the CSVs and scripts are still written and
/// `gnuplot` in the summary says why there are no pictures.
public struct ComparisonReport {
    /// A figure of the report.
    public struct Figure: Sendable, Encodable {
        /// Base name: `NAME.gp` renders `NAME.svg` and `NAME.png`.
        public var name: String
        /// One-line caption.
        public var caption: String
        /// The gnuplot commands after the terminal and output are set.
        var body: String
        /// Width and height in pixels.
        var size = (900, 560)
        enum CodingKeys: String, CodingKey { case name, caption }
    }

    /// What `write` produced.
    public struct Outcome: Sendable, Encodable {
        /// The report directory.
        public var directory: String
        /// Files written, relative to `directory`, sorted.
        public var files: [String]
        /// True when every figure was rendered.
        public var rendered: Bool
        /// How the figures were rendered, or why not.
        public var gnuplot: String
        /// Figures that gnuplot failed on, with its message.
        public var failures: [String]
    }

    public var comparison: Comparison
    public var scan: FitScanTable?
    /// The `--scan` path, for the figure caption.
    public var scanPath: String?

    public init(comparison: Comparison, scan: FitScanTable? = nil, scanPath: String? = nil) {
        self.comparison = comparison
        self.scan = scan
        self.scanPath = scanPath
    }

    // MARK: Writing

    /// The manifest mld writes into every report directory: it marks the directory as a
    /// report and lists the files the report wrote (so that a later report there replaces
    /// exactly those and removes the ones it no longer writes, and nothing else).
    public static let manifestName = ".mld-report"

    /// Whether `directory` is a report mld wrote: it has the manifest, or (reports written
    /// before the manifest existed) a summary.json of a report beside index.html.
    public static func isReport(_ directory: String) -> Bool {
        if manifestFiles(directory) != nil { return true }
        let summary = (directory as NSString).appendingPathComponent("summary.json")
        return FileManager.default.fileExists(atPath: (directory as NSString).appendingPathComponent("index.html"))
            && OutputPlace.isJSONObject(summary, keys: ["reference", "learned", "scalars", "figures"])
    }

    /// The files the manifest of `directory` lists, nil without a manifest.
    static func manifestFiles(_ directory: String) -> [String]? {
        let path = (directory as NSString).appendingPathComponent(manifestName)
        guard let data = FileManager.default.contents(atPath: path),
              let obj = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any],
              obj["format"] as? String == "mld-report", let files = obj["files"] as? [String] else { return nil }
        // Only plain names inside the directory.
        return files.filter { !$0.isEmpty && !$0.contains("/") && $0 != "." && $0 != ".." }
    }

    /// Writes the whole report to `directory`.
    ///
    /// The report is assembled in a temporary sibling directory (removed on failure, and on
    /// SIGINT/SIGTERM through `TemporaryPaths`). A new directory is renamed into place whole.
    /// An existing one must be empty or a report mld wrote (`isReport`), unless `force`; its
    /// report files are then replaced one by one, the files an earlier report listed in its
    /// manifest and this one does not write are removed, and nothing else there is touched.
    public func write(to directory: String, force: Bool = false) throws -> Outcome {
        let fm = FileManager.default
        let target = URL(fileURLWithPath: directory).standardizedFileURL
        try OutputPlace.checkDirectory(target.path, option: "--out", what: "report", force: force,
                                       isOurs: ComparisonReport.isReport)
        let parent = target.deletingLastPathComponent()
        do { try fm.createDirectory(at: parent, withIntermediateDirectories: true) } catch {
            throw MLDError.output(file: parent.path, problem: "cannot create directory (\(error.localizedDescription))")
        }
        let pid = ProcessInfo.processInfo.processIdentifier
        // A fresh temporary directory: never one that is already there.
        var tmp = parent.appendingPathComponent(".\(target.lastPathComponent).tmp-\(pid)")
        var attempt = 0
        while true {
            do { try fm.createDirectory(at: tmp, withIntermediateDirectories: false); break } catch {
                attempt += 1
                guard attempt < 100, fm.fileExists(atPath: tmp.path) else {
                    throw MLDError.output(file: tmp.path, problem: "cannot create directory (\(error.localizedDescription))")
                }
                tmp = parent.appendingPathComponent(".\(target.lastPathComponent).tmp-\(pid)-\(attempt)")
            }
        }
        TemporaryPaths.register(tmp.path)
        defer { TemporaryPaths.unregister(tmp.path) }
        do {
            var outcome = try writeContents(to: tmp.path)
            outcome.directory = target.path
            let manifest = try JSONSerialization.data(withJSONObject: ["format": "mld-report", "files": outcome.files],
                                                      options: [.prettyPrinted, .sortedKeys])
            try manifest.write(to: tmp.appendingPathComponent(Self.manifestName))
            let names = outcome.files + [Self.manifestName]
            // A directory where the report puts a file is refused before anything is moved.
            for name in names {
                let to = target.appendingPathComponent(name).path
                var isDir: ObjCBool = false
                if fm.fileExists(atPath: to, isDirectory: &isDir), isDir.boolValue {
                    throw MLDError.output(file: to, problem: "is a directory; the report cannot write its file there")
                }
            }
            // Moved into place as one step that a signal waits for.
            return try TemporaryPaths.moving { () throws -> Outcome in
                if OutputPlace.state(target.path) == .absent, rename(tmp.path, target.path) == 0 { return outcome }
                // Into an existing directory: file by file, the manifest last.
                let previous = Self.manifestFiles(target.path) ?? []
                for name in names {
                    let from = tmp.appendingPathComponent(name).path, to = target.appendingPathComponent(name).path
                    guard rename(from, to) == 0 else {
                        throw MLDError.output(file: to, problem: "cannot be replaced (\(String(cString: strerror(errno))))")
                    }
                }
                // Files the earlier report wrote and this one does not (regular files only).
                let written = Set(names)
                for name in previous where !written.contains(name) {
                    let p = target.appendingPathComponent(name).path
                    var isDir: ObjCBool = false
                    if fm.fileExists(atPath: p, isDirectory: &isDir), !isDir.boolValue { try? fm.removeItem(atPath: p) }
                }
                try? fm.removeItem(at: tmp)
                return outcome
            }
        } catch {
            try? fm.removeItem(at: tmp)
            if let e = error as? MLDError { throw e }
            throw MLDError.output(file: target.path, problem: "cannot be written (\(error.localizedDescription))")
        }
    }

    func writeContents(to dir: String) throws -> Outcome {
        var files: [String] = []
        func put(_ name: String, _ text: String) throws {
            let path = (dir as NSString).appendingPathComponent(name)
            do { try text.write(toFile: path, atomically: false, encoding: .utf8) } catch {
                throw MLDError.output(file: path, problem: "cannot be written (\(error.localizedDescription))")
            }
            files.append(name)
        }
        for (name, text) in seriesCSVs() { try put(name, text) }
        if let scan { try put("scan.csv", scan.text + "\n") }
        let figures = self.figures()
        for f in figures { try put("\(f.name).gp", script(f)) }

        // Render.
        var failures: [String] = []
        let gnuplotNote: String
        if let exe = ComparisonReport.findGnuplot() {
            for f in figures {
                let (status, message) = ComparisonReport.runProcess(exe, ["\(f.name).gp"], in: dir)
                let made = ["svg", "png"].filter {
                    let p = (dir as NSString).appendingPathComponent("\(f.name).\($0)")
                    return ((try? FileManager.default.attributesOfItem(atPath: p)[.size] as? Int) ?? 0) > 0
                }
                files += made.map { "\(f.name).\($0)" }
                if status != 0 || made.count != 2 {
                    failures.append("\(f.name).gp: gnuplot exit \(status): \(message.split(separator: "\n").suffix(3).joined(separator: " | "))")
                }
            }
            gnuplotNote = failures.isEmpty ? "figures rendered by \(exe)" : "gnuplot (\(exe)) failed on \(failures.count) figure(s)"
        } else {
            gnuplotNote = "gnuplot not found on PATH (install gnuplot-nox, or set MLD_GNUPLOT): CSVs and .gp scripts written, no figures; run `gnuplot NAME.gp` in this directory to render them"
        }
        let rendered = failures.isEmpty && ComparisonReport.findGnuplot() != nil

        let summary = Summary(comparison: comparison, figures: figures, gnuplot: gnuplotNote,
                              rendered: rendered, failures: failures,
                              scan: scan != nil ? "scan.csv" : nil, scanNote: scanNote)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try put("summary.json", String(decoding: try encoder.encode(summary), as: UTF8.self) + "\n")
        try put("summary.csv", summaryCSV())
        try put("index.html", html(figures: figures, rendered: rendered, gnuplotNote: gnuplotNote, failures: failures))
        return Outcome(directory: dir, files: files.sorted(), rendered: rendered, gnuplot: gnuplotNote, failures: failures)
    }

    var scanNote: String? {
        scan == nil ? "no --scan CSV given: the rel_RMSE-versus-parameter figure is skipped" : nil
    }

    /// The JSON summary of the report.
    public struct Summary: Encodable {
        public struct Source: Encodable { var source: String, kind: String, frames: Int }
        var reference: Source, learned: Source
        var hydrogens: [Int]
        var notes: [String]
        var scalars: [ComparedScalar]
        var figures: [Figure]
        var gnuplot: String
        var rendered: Bool
        var failures: [String]
        var scan: String?
        var scanNote: String?

        init(comparison c: Comparison, figures: [Figure], gnuplot: String, rendered: Bool,
             failures: [String], scan: String?, scanNote: String?) {
            reference = Source(source: c.reference.source, kind: c.reference.kind, frames: c.reference.frames)
            learned = Source(source: c.learned.source, kind: c.learned.kind, frames: c.learned.frames)
            hydrogens = c.hydrogens
            notes = c.notes + (scanNote.map { [$0] } ?? [])
            scalars = c.scalars
            self.figures = figures
            self.gnuplot = gnuplot
            self.rendered = rendered
            self.failures = failures
            self.scan = scan
            self.scanNote = scanNote
        }
        enum CodingKeys: String, CodingKey {
            case reference, learned, hydrogens, notes, scalars, figures, gnuplot, rendered, failures, scan
        }
    }

    // MARK: Series

    static func number(_ x: Double) -> String { x.isFinite ? String(format: "%.8g", x) : "" }

    static func csv(_ header: [String], _ columns: [[Double]]) -> String {
        let n = columns.map(\.count).max() ?? 0
        var out = header.joined(separator: ",") + "\n"
        for k in 0..<n {
            out += columns.map { k < $0.count ? number($0[k]) : "" }.joined(separator: ",") + "\n"
        }
        return out
    }

    /// Every series as (file name, CSV text).
    func seriesCSVs() -> [(String, String)] {
        var out: [(String, String)] = []
        let c = comparison
        for (tag, o) in [("reference", c.reference), ("learned", c.learned)] {
            out.append(("kinetic_energy_\(tag).csv", Self.csv(["time_fs", "kinetic_eV", "temperature_K"],
                                                               [o.kinetic.times, o.kinetic.kinetic, o.kinetic.temperature])))
            out.append(("oh_bond_series_\(tag).csv", Self.csv(["time_fs"] + c.hydrogens.map { "H\($0)_A" },
                                                              [o.bonds.times] + c.hydrogens.map { o.bonds.series(atom: $0) ?? [] })))
            out.append(("rdf_\(tag).csv", Self.csv(["r_A", "g_OO", "g_OH", "g_HH"],
                                                   [o.rdfs[0].r] + o.rdfs.map(\.g))))
            out.append(("msd_O_\(tag).csv", Self.csv(["lag_fs", "msd_A2"], [o.msd.lags, o.msd.msd])))
            out.append(("vacf_\(tag).csv", Self.csv(["lag_fs", "vacf"], [o.spectrum.lags, o.spectrum.vacf])))
            out.append(("spectrum_\(tag).csv", Self.csv(["wavenumber_cm-1", "vdos"],
                                                        [o.spectrum.wavenumbers, o.spectrum.intensity])))
        }
        var stats = "source,mean_A,std_A,min_A,max_A\n"
        for (tag, o) in [("reference", c.reference), ("learned", c.learned)] {
            stats += "\(tag)," + [o.bonds.mean, o.bonds.standardDeviation, o.bonds.minimum, o.bonds.maximum]
                .map(Self.number).joined(separator: ",") + "\n"
        }
        out.append(("oh_bond_stats.csv", stats))
        out.append(("hoh_angle.csv", Self.csv(["angle_deg", "reference_per_deg", "learned_per_deg"],
                                              [c.reference.angleDistribution.centers,
                                               c.reference.angleDistribution.density,
                                               c.learned.angleDistribution.density])))
        return out
    }

    func summaryCSV() -> String {
        var out = "name,unit,reference,learned,difference,relative_difference\n"
        for s in comparison.scalars {
            out += "\(s.name),\(s.unit)," + [s.reference, s.learned, s.difference, s.relativeDifference]
                .map { $0.map(Self.number) ?? "" }.joined(separator: ",") + "\n"
        }
        return out
    }

    // MARK: Figures

    static let referenceColor = "#1f4e9c", learnedColor = "#d1492e"
    static let palette = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"]

    /// The gnuplot script of a figure: SVG, then PNG (pngcairo when available).
    func script(_ f: Figure) -> String {
        """
        # \(f.caption)
        # Renders \(f.name).svg and \(f.name).png from the CSV files beside this script: gnuplot \(f.name).gp
        set datafile separator ','
        set encoding utf8
        set terminal svg size \(f.size.0),\(f.size.1) dynamic enhanced font 'Helvetica,14' background rgb 'white'
        set output '\(f.name).svg'
        \(f.body)
        unset output
        reset
        set datafile separator ','
        set encoding utf8
        if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) {
            set terminal pngcairo size \(f.size.0),\(f.size.1) enhanced font 'Helvetica,12' background rgb 'white'
        } else {
            set terminal png size \(f.size.0),\(f.size.1) enhanced background rgb 'white'
        }
        set output '\(f.name).png'
        \(f.body)
        unset output

        """
    }

    func figures() -> [Figure] {
        let c = comparison
        let ref = "lc rgb '\(Self.referenceColor)' dt 2 lw 2", run = "lc rgb '\(Self.learnedColor)' dt 1 lw 2"
        var out: [Figure] = []
        out.append(Figure(name: "kinetic_energy", caption: String(
            format: "Kinetic energy against time: CP2K reference (dashed, mean T %.1f K) and learned run (solid, mean T %.1f K).",
            c.reference.kinetic.meanTemperature, c.learned.kinetic.meanTemperature), body: """
            set title 'Kinetic energy'
            set xlabel 'time (fs)'
            set ylabel 'kinetic energy (eV)'
            set key top right
            set grid
            plot 'kinetic_energy_reference.csv' skip 1 using 1:2 with lines \(ref) title 'reference', \\
                 'kinetic_energy_learned.csv' skip 1 using 1:2 with lines \(run) title 'learned'
            """))
        if let scan {
            var plots: [String] = []
            let x = scan.numericParameter ? "1" : "0"
            let tic = scan.numericParameter ? "" : ":xtic(1)"
            for (e, el) in scan.elements.enumerated() {
                let color = Self.palette[e % Self.palette.count]
                plots.append("'scan.csv' skip 1 using \(x):\(2 + 2 * e + 1)\(tic) with linespoints lc rgb '\(color)' dt 1 lw 2 pt 7 title 'test \(el)'")
                plots.append("'scan.csv' skip 1 using \(x):\(2 + 2 * e) with linespoints lc rgb '\(color)' dt 2 lw 2 pt 6 title 'train \(el)'")
            }
            out.append(Figure(name: "scan_rel_rmse", caption: "Relative force RMSE per species against the scanned \(scan.parameter) (test solid, training dashed), from the fit scan \(scanPath ?? "scan.csv").", body: """
                set title 'Force error against \(scan.parameter.replacingOccurrences(of: "_", with: " "))' noenhanced
                set xlabel '\(scan.parameter)' noenhanced
                set ylabel 'relative RMSE of the forces'
                set key outside right
                set grid
                set offsets graph 0.05, graph 0.05, graph 0.05, graph 0.05
                plot \(plots.joined(separator: ", \\\n     "))
                """))
        }
        let lo = min(c.reference.bonds.minimum, c.learned.bonds.minimum)
        let hi = max(c.reference.bonds.maximum, c.learned.bonds.maximum)
        out.append(Figure(name: "oh_bond_stats", caption: String(
            format: "O-H bond length, mean ± standard deviation (thick) and range (thin): reference %.4f ± %.4f Å, learned %.4f ± %.4f Å.",
            c.reference.bonds.mean, c.reference.bonds.standardDeviation, c.learned.bonds.mean, c.learned.bonds.standardDeviation), body: """
            set title 'O-H bond length'
            set ylabel 'O-H distance (Å)'
            set xrange [-0.6:1.6]
            set yrange [\(Self.number(lo - 0.02)):\(Self.number(hi + 0.02))]
            set grid ytics
            set key top right
            set bars 2
            plot 'oh_bond_stats.csv' skip 1 using ($0+0.08):4:4:5 with yerrorbars lc rgb '#777777' lw 1 pt 0 title 'min-max', \\
                 'oh_bond_stats.csv' skip 1 using 0:2:3:xtic(1) with yerrorbars lc rgb '\(Self.learnedColor)' lw 3 pt 7 ps 1.5 title 'mean ± std'
            """))
        // One panel per hydrogen over the common time span (at most 250 fs, so the
        // vibrations stay visible; the CSVs hold everything).
        let h = c.hydrogens
        let t0 = max(c.reference.bonds.times.first!, c.learned.bonds.times.first!)
        let t1 = min(min(c.reference.bonds.times.last!, c.learned.bonds.times.last!), t0 + 250)
        let columns = Int(Double(h.count).squareRoot().rounded(.up))
        let rows = (h.count + columns - 1) / max(columns, 1)
        var seriesBody = "set multiplot layout \(rows),\(columns) title 'O-H bond length of chosen hydrogens (reference dashed, learned solid)'\n"
        seriesBody += "set grid\nset xlabel 'time (fs)'\nset ylabel 'O-H (Å)'\nset key top right samplen 2 font ',10'\n"
        seriesBody += "set xrange [\(Self.number(t0)):\(Self.number(t1))]\nset offsets 0, 0, graph 0.25, 0\n"
        for (k, atom) in h.enumerated() {
            let color = Self.palette[k % Self.palette.count]
            seriesBody += "set title 'H \(atom)'\n"
            seriesBody += "plot 'oh_bond_series_reference.csv' skip 1 using 1:\(k + 2) with lines lc rgb '\(color)' dt 2 lw 1.5 title 'reference', "
            seriesBody += "'oh_bond_series_learned.csv' skip 1 using 1:\(k + 2) with lines lc rgb '\(color)' dt 1 lw 1.5 title 'learned'\n"
        }
        seriesBody += "unset multiplot"
        out.append(Figure(name: "oh_bond_series", caption: String(format: "O-H bond length of hydrogens %@ (0-based atom indices) against time, %.0f-%.0f fs: reference dashed, learned solid.", h.map(String.init).joined(separator: ", "), t0, t1), body: seriesBody, size: (1100, 720)))
        // RDF panels; g_OH is clipped above its intermolecular structure (the bond peak is huge).
        let tails = [c.reference, c.learned].flatMap { o in o.rdfs[1].r.indices.filter { o.rdfs[1].r[$0] > 1.3 }.map { o.rdfs[1].g[$0] } }
        let ohTop = 1.3 * (tails.max() ?? 2)
        var rdfBody = "set multiplot layout 1,3 title 'Radial distribution functions'\nset grid\nset xlabel 'r (Å)'\nset key top right samplen 2\nset offsets 0, 0, graph 0.2, 0\n"
        for (k, pair) in WaterObservables.rdfPairs.enumerated() {
            rdfBody += "set title 'g_{\(pair.0)\(pair.1)}'\n"
            rdfBody += k == 1 ? "set yrange [0:\(Self.number(ohTop))]\n" : "set yrange [0:*]\n"
            rdfBody += "plot 'rdf_reference.csv' skip 1 using 1:\(k + 2) with lines \(ref) title 'reference', 'rdf_learned.csv' skip 1 using 1:\(k + 2) with lines \(run) title 'learned'\n"
        }
        rdfBody += "unset multiplot"
        let p = { (o: WaterObservables) in o.rdfs[0].firstPeak().map { String(format: "%.2f Å", $0.position) } ?? "none" }
        out.append(Figure(name: "rdf", caption: "g_OO, g_OH, g_HH, reference dashed and learned solid (first g_OO peak: reference \(p(c.reference)), learned \(p(c.learned))); the g_OH panel is cut above the intermolecular peak, the covalent peak is in the table.", body: rdfBody, size: (1200, 480)))
        out.append(Figure(name: "hoh_angle", caption: String(
            format: "H-O-H angle distribution (O with its two nearest H): reference %.1f ± %.1f°, learned %.1f ± %.1f°.",
            c.reference.angles.mean, c.reference.angles.standardDeviation, c.learned.angles.mean, c.learned.angles.standardDeviation), body: """
            set title 'H-O-H angle distribution'
            set xlabel 'H-O-H angle (degrees)'
            set ylabel 'probability density (1/degree)'
            set key top right
            set grid
            plot 'hoh_angle.csv' skip 1 using 1:2 with lines \(ref) title 'reference', \\
                 'hoh_angle.csv' skip 1 using 1:3 with lines \(run) title 'learned'
            """))
        out.append(Figure(name: "msd", caption: String(
            format: "Mean squared displacement of the oxygens (centre-of-mass drift removed); D = %.2f (reference) and %.2f (learned) × 10^-5 cm²/s from the line fit, indicative only for runs this short.",
            c.reference.msd.diffusionCm2PerS1e5, c.learned.msd.diffusionCm2PerS1e5), body: """
            set title 'Oxygen mean squared displacement'
            set xlabel 'lag (fs)'
            set ylabel 'MSD (Å^2)'
            set key top left
            set grid
            set arrow from \(Self.number(c.reference.msd.fitWindow.lowerBound)), graph 0 to \(Self.number(c.reference.msd.fitWindow.lowerBound)), graph 1 nohead lc rgb '#999999' dt 3
            set arrow from \(Self.number(c.reference.msd.fitWindow.upperBound)), graph 0 to \(Self.number(c.reference.msd.fitWindow.upperBound)), graph 1 nohead lc rgb '#999999' dt 3
            plot 'msd_O_reference.csv' skip 1 using 1:2 with lines \(ref) title 'reference', \\
                 'msd_O_learned.csv' skip 1 using 1:2 with lines \(run) title 'learned'
            """))
        let peaks = { (o: WaterObservables) -> String in
            let s = o.spectrum.peak(in: VibrationalSpectrum.stretchRange).map { String(format: "%.0f", $0) } ?? "n/a"
            let b = o.spectrum.peak(in: VibrationalSpectrum.bendRange).map { String(format: "%.0f", $0) } ?? "n/a"
            return "stretch \(s), bend \(b) cm⁻¹"
        }
        out.append(Figure(name: "spectrum", caption: "Vibrational density of states (mass-weighted VACF, Hann window, cosine transform), each normalised to its maximum: reference \(peaks(c.reference)); learned \(peaks(c.learned)).", body: """
            set title 'Vibrational density of states'
            set xlabel 'wavenumber (cm^{-1})'
            set ylabel 'VDOS (normalised)'
            set xrange [0:4500]
            set key top right
            set grid
            plot 'spectrum_reference.csv' skip 1 using 1:2 with lines \(ref) title 'reference', \\
                 'spectrum_learned.csv' skip 1 using 1:2 with lines \(run) title 'learned'
            """))
        return out
    }

    // MARK: HTML

    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }

    func html(figures: [Figure], rendered: Bool, gnuplotNote: String, failures: [String]) -> String {
        let c = comparison
        let e = Self.escape
        func cell(_ x: Double?) -> String { x.map { String(format: "%.6g", $0) } ?? "–" }
        var s = """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8"><title>mld compare</title>
        <style>body{font-family:sans-serif;max-width:1000px;margin:auto;padding:1em}
        table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}
        td:first-child,th:first-child{text-align:left}img{max-width:100%;border:1px solid #eee}
        figure{margin:1.5em 0}</style></head><body>
        <h1>Learned dynamics against the CP2K reference</h1>
        <p>Reference: <code>\(e(c.reference.source))</code> (\(e(c.reference.kind)), \(c.reference.frames) frames).
        Learned: <code>\(e(c.learned.source))</code> (\(e(c.learned.kind)), \(c.learned.frames) frames).</p>
        <ul>
        """
        for n in c.notes + (scanNote.map { [$0] } ?? []) { s += "<li>\(e(n))</li>\n" }
        s += "<li>\(e(gnuplotNote))</li>\n"
        for f in failures { s += "<li>\(e(f))</li>\n" }
        s += "</ul>\n<h2>Summary</h2>\n<table><tr><th>quantity</th><th>unit</th><th>reference</th><th>learned</th><th>difference</th><th>relative</th></tr>\n"
        for x in c.scalars {
            s += "<tr><td title=\"\(e(x.description))\">\(e(x.name))</td><td>\(e(x.unit))</td><td>\(cell(x.reference))</td><td>\(cell(x.learned))</td><td>\(cell(x.difference))</td><td>\(x.relativeDifference.map { String(format: "%+.2f%%", 100 * $0) } ?? "–")</td></tr>\n"
        }
        s += "</table>\n<p>Data: <a href=\"summary.json\">summary.json</a>, <a href=\"summary.csv\">summary.csv</a>; every series has its CSV and every figure its gnuplot script beside this page.</p>\n<h2>Figures</h2>\n"
        for f in figures {
            if rendered {
                s += "<figure><a href=\"\(f.name).svg\"><img src=\"\(f.name).png\" alt=\"\(e(f.caption))\"></a><figcaption>\(e(f.caption))</figcaption></figure>\n"
            } else {
                s += "<figure><p>(not rendered: <code>gnuplot \(f.name).gp</code>)</p><figcaption>\(e(f.caption))</figcaption></figure>\n"
            }
        }
        s += "</body></html>\n"
        return s
    }

    // MARK: gnuplot

    /// `MLD_GNUPLOT` if set (empty or missing file: none), else `gnuplot` found on `PATH`.
    public static func findGnuplot() -> String? {
        let env = ProcessInfo.processInfo.environment
        if let p = env["MLD_GNUPLOT"] {
            return FileManager.default.isExecutableFile(atPath: p) ? p : nil
        }
        for dir in (env["PATH"] ?? "/usr/local/bin:/usr/bin:/bin").split(separator: ":") {
            let p = "\(dir)/gnuplot"
            if FileManager.default.isExecutableFile(atPath: p) { return p }
        }
        return nil
    }

    static func runProcess(_ exe: String, _ args: [String], in dir: String) -> (Int32, String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: exe)
        p.arguments = args
        p.currentDirectoryURL = URL(fileURLWithPath: dir)
        let err = Pipe()
        p.standardError = err
        p.standardOutput = FileHandle.nullDevice
        do { try p.run() } catch { return (-1, "cannot start: \(error.localizedDescription)") }
        let data = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}
