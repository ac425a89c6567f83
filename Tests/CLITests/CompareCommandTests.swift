import Foundation
import Testing
import MLD

let bundledReference = "Data/cp2k-water64-xtb-300K"

/// A small `mld run`-shaped directory made from the first 400 CP2K steps, every 2nd step
/// (1 fs apart), with a thermo.csv and a fit-scan CSV beside it. Made once per test process.
let smallRunDirectory: String = {
    var url = URL(fileURLWithPath: #filePath)
    for _ in 0..<3 { url.deleteLastPathComponent() }
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mld-compare-test-\(getpid())").path
    let run = dir + "/run"
    try! FileManager.default.createDirectory(atPath: run, withIntermediateDirectories: true)
    // Removed when the test process exits.
    atexit {
        try? FileManager.default.removeItem(atPath: FileManager.default.temporaryDirectory
            .appendingPathComponent("mld-compare-test-\(getpid())").path)
    }
    let cp2k = try! CP2KReader.read(directory: url.appendingPathComponent(bundledReference).path, requireForces: false)
    let frames = stride(from: 0, to: 400, by: 2).map { k -> Configuration in
        var c = cp2k.frames[k]
        c.forces = nil
        return c
    }
    try! ExtendedXYZ.write(frames, to: run + "/trajectory.xyz")
    var csv = "step,time_fs,kinetic_eV,temperature_K,loss_O_eV,loss_H_eV,thermostat_eV,com_drift_A,wall_s\n"
    for e in cp2k.energies.prefix(400) {
        csv += "\(e.step),\(e.time),\(e.kinetic),\(e.temperature),0,0,0,0,0\n"
    }
    try! csv.write(toFile: run + "/thermo.csv", atomically: true, encoding: .utf8)
    let scan = """
    cutoff_A,train_rel_rmse_O,test_rel_rmse_O,train_rel_rmse_H,test_rel_rmse_H
    3.0,0.61,0.63,0.52,0.55
    4.0,0.44,0.47,0.38,0.41
    5.0,0.35,0.39,0.30,0.34
    """
    try! scan.write(toFile: dir + "/scan.csv", atomically: true, encoding: .utf8)
    return dir
}()

let gnuplotInstalled: Bool = {
    (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":")
        .contains { FileManager.default.isExecutableFile(atPath: "\($0)/gnuplot") }
}()

/// Every file `mld compare` promises, without the figures.
let promisedData = [
    "summary.json", "summary.csv", "index.html", "oh_bond_stats.csv", "hoh_angle.csv",
] + ["reference", "learned"].flatMap { tag in
    ["kinetic_energy", "oh_bond_series", "rdf", "msd_O", "vacf", "spectrum"].map { "\($0)_\(tag).csv" }
}
let promisedFigures = ["kinetic_energy", "oh_bond_stats", "oh_bond_series", "rdf", "hoh_angle", "msd", "spectrum"]

@Suite struct CompareCommandTests {
    @Test(.enabled(if: gnuplotInstalled, "gnuplot is not installed: SKIPPING the figure checks of mld compare (apt-get install gnuplot-nox)"))
    func writesEveryFileAndValidFigures() throws {
        let out = smallRunDirectory + "/report"
        defer { try? FileManager.default.removeItem(atPath: out) }
        let r = try runMLD(["compare", "--reference", bundledReference, "--run", smallRunDirectory + "/run",
                            "--out", out, "--scan", smallRunDirectory + "/scan.csv", "--atoms", "1,2,4,5", "--json"],
                           environment: [:])
        #expect(r.status == 0, "stderr: \(r.err)")
        let fm = FileManager.default
        for name in promisedData + ["scan.csv"] + (promisedFigures + ["scan_rel_rmse"]).map({ "\($0).gp" }) {
            #expect(fm.fileExists(atPath: out + "/" + name), "missing \(name)")
        }
        let html = try String(contentsOfFile: out + "/index.html", encoding: .utf8)
        for fig in promisedFigures + ["scan_rel_rmse"] {
            let svg = try #require(fm.contents(atPath: "\(out)/\(fig).svg"), "missing \(fig).svg")
            let head = String(decoding: svg.prefix(200), as: UTF8.self)
            #expect(svg.count > 1000 && (head.hasPrefix("<?xml") || head.hasPrefix("<svg")), "\(fig).svg is not SVG")
            #expect(String(decoding: svg, as: UTF8.self).contains("</svg>"), "\(fig).svg is truncated")
            let png = try #require(fm.contents(atPath: "\(out)/\(fig).png"), "missing \(fig).png")
            #expect(png.count > 1000 && Array(png.prefix(8)) == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A], "\(fig).png is not PNG")
            #expect(html.contains("src=\"\(fig).png\""), "index.html does not show \(fig)")
        }
        // summary.json: the scalars side by side, and what --json printed is the same file.
        let json = try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as! [String: Any]
        #expect(json["hydrogens"] as? [Int] == [1, 2, 4, 5])
        #expect(json["rendered"] as? Bool == true)
        let scalars = json["scalars"] as! [[String: Any]]
        let bond = try #require(scalars.first { $0["name"] as? String == "oh_bond_mean_A" })
        let ref = bond["reference"] as! Double, run = bond["learned"] as! Double
        #expect(abs(ref - 0.9673) < 5e-4, "CP2K README: 0.9673 Å")
        #expect(abs(run - ref) < 0.01)
        let spacing = try #require(scalars.first { $0["name"] as? String == "frame_spacing_fs" })
        #expect(spacing["reference"] as? Double == 0.5 && spacing["learned"] as? Double == 1.0)
        let onDisk = try JSONSerialization.jsonObject(with: try Data(contentsOf: URL(fileURLWithPath: out + "/summary.json"))) as! [String: Any]
        #expect((onDisk["scalars"] as! [[String: Any]]).count == scalars.count)
        // No temporary directories left beside the report.
        let leftovers = try fm.contentsOfDirectory(atPath: smallRunDirectory).filter { $0.hasPrefix(".report") }
        #expect(leftovers.isEmpty, "left behind: \(leftovers)")
    }

    @Test func withoutGnuplotStillWritesDataAndScripts() throws {
        let out = smallRunDirectory + "/report-no-gnuplot"
        defer { try? FileManager.default.removeItem(atPath: out) }
        let r = try runMLD(["compare", "--reference", bundledReference, "--run", smallRunDirectory + "/run", "--out", out],
                           environment: ["MLD_GNUPLOT": "/nonexistent/gnuplot"])
        #expect(r.status == 0, "stderr: \(r.err)")
        #expect(r.err.contains("gnuplot not found"))
        #expect(r.out.contains("no --scan CSV given"))
        let fm = FileManager.default
        for name in promisedData + promisedFigures.map({ "\($0).gp" }) {
            #expect(fm.fileExists(atPath: out + "/" + name), "missing \(name)")
        }
        #expect(!fm.fileExists(atPath: out + "/scan_rel_rmse.gp"))
        #expect(!fm.fileExists(atPath: out + "/rdf.svg"))
    }

    @Test func rejectsAnOxygenAsHydrogenAndAMissingDirectory() throws {
        let r = try runMLD(["compare", "--reference", bundledReference, "--run", smallRunDirectory + "/run",
                            "--out", smallRunDirectory + "/bad", "--atoms", "0,1"], environment: [:])
        #expect(r.status == 1)
        #expect(r.err.hasPrefix("mld: error: --atoms: atom 0 is not a hydrogen"))
        #expect(!FileManager.default.fileExists(atPath: smallRunDirectory + "/bad"))
        let m = try runMLD(["compare", "--reference", "/nonexistent/cp2k", "--run", smallRunDirectory + "/run",
                            "--out", smallRunDirectory + "/bad"], environment: [:])
        #expect(m.status == 1)
        #expect(m.err == "mld: error: /nonexistent/cp2k: not a directory\n")
    }
}
