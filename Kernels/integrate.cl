// integrate.cl: velocity Verlet and the thermostat's velocity scaling on the device, for the
// device-resident steps (`mld run --resident`): positions, velocities and forces stay on the
// device, the host drives every step and keeps the thermostat's own variables.
//
// Mirrors: Simulation.advance() (Sources/MLD/Dynamics/Simulation.swift) with
// VelocityVerlet.kick/drift and the thermostats' velocity scaling (Thermostat.halfStep), the
// same operations in the same order on every atom; the host side is
// Simulation+Resident.swift, the driver OpenCLResidentDynamics.swift.
//
// Units: q in Å (unwrapped), v in Å/fs, F in eV/Å, m in u, accel = Units.forceOverMass / m
// (Å/fs² per eV/Å), h and dt in fs.
//
// Memory layout (N atoms, G work-groups of L work-items, L a power of two):
//   q, v, f     double4[N]  {x, y, z, 0}; f is the gradient kernels' force buffer (acc4 = double4)
//   mass, accel double[N]
//   qref        double4[N]  unwrapped positions at the last neighbour-list build
//   dq          double4[N]  this step's q(t + dt) - q(t), for the work of the forces
//   pos         pos_t[N]    the wrapped positions the force kernels read (common.cl layout)
//   scale       double[N]   per-atom scale factors (massive thermostat), or unused
//   ke          double[N]   m |v|^2 per atom (u Å²/fs²), written when asked
//   partial     double[G*K] one row of K sums (or maxima) per work-group; the host combines the
//                           rows in group order, so every result is deterministic for given N, G, L
// Every reduction walks atoms i = g*L + l, g*L + l + G*L, ... then a tree in local memory.
// The whole file needs fp64 (MLD_ACC_DOUBLE; the resident path refuses devices without it).
// FP_CONTRACT is off so that a*b + c is rounded twice, as in the Swift it mirrors.

#ifdef MLD_ACC_DOUBLE
#pragma OPENCL FP_CONTRACT OFF

// The wrapped position of q in the force kernels' layout: Box.wrap(q) (q - L floor(q / L),
// exactly L set to 0), then double4 (MLD_DOUBLE) or the float hi/lo split of PositionStager.
static inline pos_t md_stage(double4 q, double4 L) {
    double4 w = q - L * floor(q / L);
    w.x = w.x >= L.x ? 0.0 : w.x;
    w.y = w.y >= L.y ? 0.0 : w.y;
    w.z = w.z >= L.z ? 0.0 : w.z;
#ifdef MLD_DOUBLE
    return (double4)(w.x, w.y, w.z, 0.0);
#else
    float4 hi = convert_float4(w);
    float4 lo = convert_float4(w - convert_double4(hi));
    return (float8)(hi.x, hi.y, hi.z, 0.0f, lo.x, lo.y, lo.z, 0.0f);
#endif
}

// Sum (op 0) or maximum (op 1) of K values per work-item over the group, into partial[g*K + k].
// scratch holds L*K doubles.
static inline void md_reduce(__local double *scratch, const double *x, const int *ops, int K,
                             __global double *partial) {
    int l = get_local_id(0), L = get_local_size(0);
    for (int k = 0; k < K; k++) scratch[k * L + l] = x[k];
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int s = L / 2; s > 0; s >>= 1) {
        if (l < s) {
            for (int k = 0; k < K; k++) {
                double a = scratch[k * L + l], b = scratch[k * L + l + s];
                scratch[k * L + l] = ops[k] == 0 ? a + b : (isnan(b) || b > a ? b : a);
            }
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (l == 0) for (int k = 0; k < K; k++) partial[get_group_id(0) * K + k] = scratch[k * L];
}

// v = v * s - shift (s = scale[i] when per_atom, else s0); then per group: sum m v (3), sum m |v|^2,
// and ke[i] = m |v|^2 when want_ke. K = 4.
__kernel void md_scale(__global double4 *v, __global const double *mass, const int n,
                       __global const double *scale, const int per_atom, const double s0,
                       const double4 shift, __global double *ke, const int want_ke,
                       __global double *partial, __local double *scratch) {
    double x[4] = { 0, 0, 0, 0 };
    const int ops[4] = { 0, 0, 0, 0 };
    for (int i = get_global_id(0); i < n; i += get_global_size(0)) {
        double s = per_atom ? scale[i] : s0;
        double4 w = v[i] * s - shift;
        w.w = 0;
        v[i] = w;
        double m = mass[i];
        x[0] += m * w.x; x[1] += m * w.y; x[2] += m * w.z;
        double e = m * (w.x * w.x + w.y * w.y + w.z * w.z);
        x[3] += e;
        if (want_ke) ke[i] = e;
    }
    md_reduce(scratch, x, ops, 4, partial);
}

// The first half of a step: v = v * s - shift; v += (h accel) F; d = dt v; q += d; dq = q_new -
// q_old; pos = the wrapped q. Per group: max |d|^2 and its atom, max |q - qref|^2 (the
// neighbour list is due past half the skin), sum F.dq (the old forces' work). K = 4.
__kernel void md_kick_drift(__global double4 *q, __global double4 *v, __global const double4 *f,
                            __global const double *accel, const int n, const double s,
                            const double4 shift, const double h, const double dt,
                            __global const double4 *qref, __global double4 *dq, __global pos_t *pos,
                            const double4 L, __global double *partial, __local double *scratch) {
    double x[4] = { 0, -1, 0, 0 };
    for (int i = get_global_id(0); i < n; i += get_global_size(0)) {
        double4 w = v[i] * s - shift;
        double4 F = f[i];
        w += (h * accel[i]) * F;
        w.w = 0;
        v[i] = w;
        double4 d = dt * w;
        double4 qo = q[i];
        double4 qn = qo + d;
        qn.w = 0;
        q[i] = qn;
        double4 step = qn - qo;
        dq[i] = step;
        pos[i] = md_stage(qn, L);
        double d2 = d.x * d.x + d.y * d.y + d.z * d.z;
        if (isnan(d2) || d2 > x[0]) { x[0] = d2; x[1] = (double)i; }
        double4 r = qn - qref[i];
        x[2] = fmax(x[2], r.x * r.x + r.y * r.y + r.z * r.z);
        if (isnan(r.x + r.y + r.z)) x[2] = NAN;
        x[3] += F.x * step.x + F.y * step.y + F.z * step.z;
    }
    // The atom of the largest step travels with it: reduce (max, atom) pairs by hand.
    int l = get_local_id(0), Lg = get_local_size(0);
    scratch[l] = x[0]; scratch[Lg + l] = x[1]; scratch[2 * Lg + l] = x[2]; scratch[3 * Lg + l] = x[3];
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int t = Lg / 2; t > 0; t >>= 1) {
        if (l < t) {
            double a = scratch[l], b = scratch[l + t];
            if ((isnan(b) && !isnan(a)) || b > a) { scratch[l] = b; scratch[Lg + l] = scratch[Lg + l + t]; }
            double c = scratch[2 * Lg + l], e = scratch[2 * Lg + l + t];
            scratch[2 * Lg + l] = (isnan(e) || e > c) ? e : c;
            scratch[3 * Lg + l] += scratch[3 * Lg + l + t];
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (l == 0) for (int k = 0; k < 4; k++) partial[get_group_id(0) * 4 + k] = scratch[k * Lg];
}

// Per group: the net force sum F (3; not finite when any force is not). K = 3.
__kernel void md_net_force(__global const double4 *f, const int n, __global double *partial,
                           __local double *scratch) {
    double x[3] = { 0, 0, 0 };
    const int ops[3] = { 0, 0, 0 };
    for (int i = get_global_id(0); i < n; i += get_global_size(0)) {
        double4 F = f[i];
        x[0] += F.x; x[1] += F.y; x[2] += F.z;
    }
    md_reduce(scratch, x, ops, 3, partial);
}

// The second half of a step: F -= m a_com (centre-of-mass removal; a_com = 0 without it);
// v += (h accel) F. Per group: sum F.dq (the new forces' work), sum m |v|^2; ke[i] = m |v|^2
// when want_ke. K = 2.
__kernel void md_correct_kick(__global double4 *f, __global double4 *v, __global const double *mass,
                              __global const double *accel, const int n, const double4 a_com,
                              const int remove_com, const double h, __global const double4 *dq,
                              __global double *ke, const int want_ke,
                              __global double *partial, __local double *scratch) {
    double x[2] = { 0, 0 };
    const int ops[2] = { 0, 0 };
    for (int i = get_global_id(0); i < n; i += get_global_size(0)) {
        double m = mass[i];
        double4 F = f[i];
        if (remove_com) { F -= m * a_com; F.w = 0; f[i] = F; }
        double4 step = dq[i];
        x[0] += F.x * step.x + F.y * step.y + F.z * step.z;
        double4 w = v[i] + (h * accel[i]) * F;
        w.w = 0;
        v[i] = w;
        double e = m * (w.x * w.x + w.y * w.y + w.z * w.z);
        x[1] += e;
        if (want_ke) ke[i] = e;
    }
    md_reduce(scratch, x, ops, 2, partial);
}
#pragma OPENCL FP_CONTRACT ON
#endif
