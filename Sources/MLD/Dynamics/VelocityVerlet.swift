/// Velocity Verlet, as its two pieces: a kick (velocities by forces over half a step) and a drift
/// (positions by velocities over a whole step). One step is kick(dt/2), drift(dt), forces,
/// kick(dt/2); a thermostat wraps it with its own half steps.
public enum VelocityVerlet {
    /// `v += h F / m` for every atom: v in Å/fs, F in eV/Å, h in fs; `accel[i]` is
    /// `Units.forceOverMass / m_i` (Å/fs² per eV/Å).
    @inline(__always)
    public static func kick(_ v: inout [SIMD3<Double>], forces f: [SIMD3<Double>],
                            accel: [Double], h: Double) {
        v.withUnsafeMutableBufferPointer { v in
            f.withUnsafeBufferPointer { f in
                accel.withUnsafeBufferPointer { a in
                    for i in 0..<v.count { v[i] += (h * a[i]) * f[i] }
                }
            }
        }
    }

    /// `q += h v` for every atom (Å, Å/fs, fs). Returns the index and length (Å) of the largest
    /// single displacement, for blow-up checks.
    @inline(__always)
    @discardableResult
    public static func drift(_ q: inout [SIMD3<Double>], velocities v: [SIMD3<Double>],
                             h: Double) -> (atom: Int, distance: Double) {
        var worst = 0, worst2 = 0.0
        q.withUnsafeMutableBufferPointer { q in
            v.withUnsafeBufferPointer { v in
                for i in 0..<q.count {
                    let d = h * v[i]
                    q[i] += d
                    let d2 = (d * d).sum()
                    if d2 > worst2 || (d2.isNaN && !worst2.isNaN) { worst2 = d2; worst = i }   // NaN is worst
                }
            }
        }
        return (worst, worst2.squareRoot())
    }
}
