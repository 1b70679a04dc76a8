// The cycle loop around the Verilated `vta_top`: clock and reset, the AXI slave DRAM model on
// m_axi_gmem_*, an AXI4-Lite master on s_axi_control_*, and "run until done or a cycle
// limit" -- all in C, so Python crosses into the library once per register access or run.
//
// Port glue (which C type carries RDATA/WDATA, which optional ports exist) is generated per
// design from its port list into vta_ports.h, the register offsets and CTRL bits from
// vta.hw.regmap into vta_regmap.h (vta.sim.verilator.glue; written by the build).
//
// Exported API (a C ABI for ctypes); every call takes the handle from vsim_new():
//   vsim_new / vsim_free, vsim_set_memory, vsim_set_timing, vsim_reset, vsim_step,
//   vsim_reg_write / vsim_reg_read, vsim_run_until_done, vsim_cycle, vsim_error,
//   vsim_stats, vsim_trace_open / vsim_trace_close, vsim_features, vsim_fast_ticks,
//   vsim_quiet_ticks.
// Status codes: 0 ok, 1 cycle limit reached, -1 AXI-Lite timeout, -2 DRAM model error.

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>

#include "verilated.h"
#include "vta_ports.h"
#include "vta_regmap.h"
#include "dram_model.h"

#if defined(VTA_TRACE_FST)
#include "verilated_fst_c.h"
typedef VerilatedFstC TraceFile;
#define VTA_TRACE 1
#elif defined(VTA_TRACE_VCD)
#include "verilated_vcd_c.h"
typedef VerilatedVcdC TraceFile;
#define VTA_TRACE 1
#endif

namespace {

enum Status { OK = 0, LIMIT = 1, LITE_TIMEOUT = -1, DRAM_ERROR = -2, NO_TRACE = -3 };

// Cycles a CTRL poll in flight at a run slice's limit may take to complete.
constexpr uint64_t LITE_DRAIN = 1024;
// Cycles from one CTRL poll to the next while waiting for done: a host's MMIO read takes
// tens of fabric cycles, and between polls no transfer is in flight (fast ticks).
constexpr uint64_t POLL_INTERVAL = 32;

// Single-evaluation cycles (see Sim::tick) need the model's record of the clock's last
// value, which the build finds in the Verilated root class (VTA_CLOCK_TRIGGER, defined in
// vta_ports.h only when the design's memory-port outputs and interrupt do not depend
// combinationally on its inputs).  Tracing builds dump both clock phases: two evaluations.
#if defined(VTA_CLOCK_TRIGGER) && !defined(VTA_TRACE)
#define VTA_FAST_TICK 1
#ifdef VTA_CLOCKED_EVAL
// A single-evaluation cycle whose inputs all equal those of the last evaluation runs only
// the evaluation's clocked regions (vta_eval_clocked, glue.clocked_eval): the
// input-combinational region would recompute the values it left.
#define VTA_QUIET_TICK 1
#endif
#endif

struct Sim {
    std::unique_ptr<VerilatedContext> ctx;
    std::unique_ptr<Vvta_top> top;
    vta::DramModel dram;
    uint64_t cycle = 0;
    std::string error;
    uint8_t wdata[VTA_BUS_BYTES];

    // AXI4-Lite master request state (what we drive this cycle).
    bool aw_valid = false, w_valid = false, b_ready = false;
    bool ar_valid = false, r_ready = false;
    uint32_t aw_addr = 0, w_data = 0, ar_addr = 0;
    // Results of the last cycle's handshakes.
    bool b_done = false, r_done = false;
    uint32_t r_data = 0;
    uint64_t fast_ticks = 0;
    uint64_t quiet_ticks = 0;
#ifdef VTA_QUIET_TICK
    uint8_t last_inputs[VTA_INPUT_BYTES] = {};
    bool inputs_known = false;      // last_inputs holds the last evaluation's inputs
#endif

#ifdef VTA_TRACE
    std::unique_ptr<TraceFile> trace;
    uint64_t trace_start = 0, trace_stop = 0;
#endif

    Sim() : ctx(new VerilatedContext), dram(VTA_BUS_BYTES) {
        ctx->commandArgs(0, (const char**)nullptr);
#ifdef VTA_TRACE
        ctx->traceEverOn(true);
#endif
        top.reset(new Vvta_top(ctx.get(), "vta_top"));
        vta_ports_zero_inputs(top.get());
        top->ap_rst_n = 0;
        top->ap_clk = 0;
        top->eval();
    }

    ~Sim() {
#ifdef VTA_TRACE
        if (trace) trace->close();
#endif
        top->final();
    }

    // Whether this cycle may skip the low clock phase's evaluation: no AXI-Lite transfer is
    // in flight, so no control-port output is sampled before the edge (every handshake
    // below is false whatever the port drives).  The outputs that are sampled -- the memory
    // port's and the interrupt -- depend on state only (checked by the build), so they
    // still hold the values of the last evaluation, and one evaluation with the clock
    // rising computes exactly what the low phase and the edge would have.
    inline bool fast_cycle() const {
#ifdef VTA_FAST_TICK
        return !(aw_valid || w_valid || b_ready || ar_valid || r_ready);
#else
        return false;
#endif
    }

    // One clock cycle: drive the slaves' outputs, settle, sample, rising edge, update.
    inline void tick() {
        Vvta_top* t = top.get();
        const bool fast = fast_cycle();
        vta::AxiSlaveOut so;
        dram.drive(cycle, so);
        t->m_axi_gmem_ARREADY = so.arready;
        t->m_axi_gmem_RVALID = so.rvalid;
        vta_set_rdata(t, so.rdata);
        t->m_axi_gmem_RRESP = so.rresp;
        t->m_axi_gmem_RLAST = so.rlast;
        t->m_axi_gmem_AWREADY = so.awready;
        t->m_axi_gmem_WREADY = so.wready;
        t->m_axi_gmem_BVALID = so.bvalid;
        t->m_axi_gmem_BRESP = so.bresp;

        t->s_axi_control_AWVALID = aw_valid;
        t->s_axi_control_AWADDR = aw_addr;
        t->s_axi_control_WVALID = w_valid;
        t->s_axi_control_WDATA = w_data;
        t->s_axi_control_WSTRB = VTA_CONTROL_WSTRB;
        t->s_axi_control_BREADY = b_ready;
        t->s_axi_control_ARVALID = ar_valid;
        t->s_axi_control_ARADDR = ar_addr;
        t->s_axi_control_RREADY = r_ready;

#ifdef VTA_QUIET_TICK
        uint8_t inputs[VTA_INPUT_BYTES];
        vta_snapshot_inputs(t, inputs);
        const bool quiet = fast && inputs_known
                           && std::memcmp(inputs, last_inputs, VTA_INPUT_BYTES) == 0;
        std::memcpy(last_inputs, inputs, VTA_INPUT_BYTES);
        inputs_known = true;
#endif
        if (!fast) {
            t->ap_clk = 0;
            t->eval();
        }

        vta::AxiMasterOut mo;
        // The read and write address channels carry the same fields.
#define VTA_ADDRESS_CHANNEL(ch, CH)                 \
        mo.ch##valid = t->m_axi_gmem_##CH##VALID;   \
        mo.ch##addr = t->m_axi_gmem_##CH##ADDR;     \
        mo.ch##len = t->m_axi_gmem_##CH##LEN;       \
        mo.ch##size = t->m_axi_gmem_##CH##SIZE;     \
        mo.ch##burst = t->m_axi_gmem_##CH##BURST;
        VTA_ADDRESS_CHANNEL(ar, AR)
        VTA_ADDRESS_CHANNEL(aw, AW)
#undef VTA_ADDRESS_CHANNEL
        mo.rready = t->m_axi_gmem_RREADY;
        mo.wvalid = t->m_axi_gmem_WVALID;
        if (mo.wvalid && so.wready) {
            vta_get_wdata(t, wdata);
            mo.wdata = wdata;
            mo.wstrb = vta_get_wstrb(t);
            mo.wlast = t->m_axi_gmem_WLAST;
        }
        mo.bready = t->m_axi_gmem_BREADY;

        bool lite_aw = aw_valid && t->s_axi_control_AWREADY;
        bool lite_w = w_valid && t->s_axi_control_WREADY;
        bool lite_b = b_ready && t->s_axi_control_BVALID;
        bool lite_ar = ar_valid && t->s_axi_control_ARREADY;
        bool lite_r = r_ready && t->s_axi_control_RVALID;
        uint32_t lite_rdata = t->s_axi_control_RDATA;

        t->ap_clk = 1;
#ifdef VTA_FAST_TICK
        if (fast) {
            t->rootp->VTA_CLOCK_TRIGGER = 0;     // as if the low phase had been evaluated
            fast_ticks++;
        }
#endif
#ifdef VTA_QUIET_TICK
        if (quiet) {
            vta_eval_clocked(t);
            quiet_ticks++;
        } else {
            t->eval();
        }
#else
        t->eval();
#endif
#ifdef VTA_TRACE
        if (trace && cycle >= trace_start && cycle < trace_stop) {
            trace->dump(2 * cycle);
            trace->dump(2 * cycle + 1);
        }
#endif
        dram.edge(cycle, mo, so);
        if (lite_aw) aw_valid = false;
        if (lite_w) w_valid = false;
        b_done = lite_b;
        if (lite_b) b_ready = false;
        if (lite_ar) ar_valid = false;
        r_done = lite_r;
        if (lite_r) {
            r_ready = false;
            r_data = lite_rdata;
        }
        cycle++;
    }

    int reg_write(uint32_t addr, uint32_t value, uint64_t timeout) {
        aw_valid = w_valid = b_ready = true;
        aw_addr = addr;
        w_data = value;
        for (uint64_t i = 0; i < timeout; i++) {
            tick();
            if (b_done) return OK;
            if (dram.failed()) return DRAM_ERROR;
        }
        aw_valid = w_valid = b_ready = false;
        char buf[128];
        std::snprintf(buf, sizeof buf, "AXI-Lite write of register %#x got no response "
                      "within %llu cycles", addr, (unsigned long long)timeout);
        error = buf;
        return LITE_TIMEOUT;
    }

    int reg_read(uint32_t addr, uint32_t* value, uint64_t timeout) {
        ar_valid = r_ready = true;
        ar_addr = addr;
        for (uint64_t i = 0; i < timeout; i++) {
            tick();
            if (r_done) {
                *value = r_data;
                return OK;
            }
            if (dram.failed()) return DRAM_ERROR;
        }
        ar_valid = r_ready = false;
        char buf[128];
        std::snprintf(buf, sizeof buf, "AXI-Lite read of register %#x got no response "
                      "within %llu cycles", addr, (unsigned long long)timeout);
        error = buf;
        return LITE_TIMEOUT;
    }

    // Poll CTRL every POLL_INTERVAL cycles (as a driver would) until done or `max_cycles`
    // have passed.
    // A poll still in flight at the limit is completed first (within `LITE_DRAIN`
    // cycles): left outstanding, its CTRL value would answer the host's next register
    // read, and every read after it would be one behind.
    int run_until_done(uint64_t max_cycles) {
        uint64_t stop = cycle + max_cycles;
        uint64_t next_poll = cycle;
        while (cycle < stop || ar_valid || r_ready) {
            if (cycle >= stop + LITE_DRAIN) {
                ar_valid = r_ready = false;
                error = "AXI-Lite read of CTRL got no response while polling for done";
                return LITE_TIMEOUT;
            }
            if (cycle < stop && cycle >= next_poll && !ar_valid && !r_ready) {
                ar_valid = r_ready = true;
                ar_addr = VTA_REG_CTRL;
                next_poll = cycle + POLL_INTERVAL;
            }
            tick();
            if (dram.failed()) return DRAM_ERROR;
            if (r_done && (r_data & VTA_CTRL_DONE)) return OK;
        }
        return LIMIT;
    }
};

}  // namespace

extern "C" {

void* vsim_new() { return new Sim(); }

void vsim_free(void* h) { delete static_cast<Sim*>(h); }

// Features compiled in: bit 0 VCD trace, bit 1 FST trace, bit 2 single-evaluation cycles,
// bit 3 clocked-only evaluations of cycles with unchanged inputs.
// Also reports the bus width.
int vsim_features(uint32_t* bus_bytes) {
    *bus_bytes = VTA_BUS_BYTES;
    int features = 0;
#if defined(VTA_TRACE_FST)
    features |= 2;
#elif defined(VTA_TRACE_VCD)
    features |= 1;
#endif
#ifdef VTA_FAST_TICK
    features |= 4;
#endif
#ifdef VTA_QUIET_TICK
    features |= 8;
#endif
    return features;
}

// Cycles simulated with a single evaluation (see Sim::tick) since the model was created.
uint64_t vsim_fast_ticks(void* h) { return static_cast<Sim*>(h)->fast_ticks; }

// Of those, cycles evaluated without the input-combinational region (see Sim::tick).
uint64_t vsim_quiet_ticks(void* h) { return static_cast<Sim*>(h)->quiet_ticks; }

void vsim_set_memory(void* h, uint8_t* mem, uint64_t base, uint64_t size) {
    static_cast<Sim*>(h)->dram.set_memory(mem, base, size);
}

void vsim_set_timing(void* h, uint32_t read_latency, uint32_t write_latency,
                     uint32_t bytes_per_cycle, uint32_t max_reads, uint32_t max_writes) {
    vta::DramTiming t;
    t.read_latency = read_latency;
    t.write_latency = write_latency;
    t.bytes_per_cycle = bytes_per_cycle;
    t.max_reads = max_reads;
    t.max_writes = max_writes;
    static_cast<Sim*>(h)->dram.set_timing(t);
}

// Hold reset for `cycles` cycles, then release it; bus state and errors are cleared.
void vsim_reset(void* h, uint32_t cycles) {
    Sim* s = static_cast<Sim*>(h);
    s->dram.reset();
    s->dram.clear_error();
    s->error.clear();
    s->aw_valid = s->w_valid = s->b_ready = s->ar_valid = s->r_ready = false;
    s->top->ap_rst_n = 0;
    for (uint32_t i = 0; i < cycles; i++) s->tick();
    s->top->ap_rst_n = 1;
    // The simulation wrapper registers the reset, so the design leaves reset one cycle
    // after ap_rst_n rises; idle until then (a bus handshake during reset would be lost).
    for (int i = 0; i < 2; i++) s->tick();
    s->dram.reset();
}

int vsim_step(void* h, uint64_t cycles) {
    Sim* s = static_cast<Sim*>(h);
    for (uint64_t i = 0; i < cycles; i++) {
        s->tick();
        if (s->dram.failed()) return DRAM_ERROR;
    }
    return OK;
}

int vsim_reg_write(void* h, uint32_t addr, uint32_t value, uint64_t timeout) {
    return static_cast<Sim*>(h)->reg_write(addr, value, timeout);
}

int vsim_reg_read(void* h, uint32_t addr, uint32_t* value, uint64_t timeout) {
    return static_cast<Sim*>(h)->reg_read(addr, value, timeout);
}

int vsim_run_until_done(void* h, uint64_t max_cycles) {
    return static_cast<Sim*>(h)->run_until_done(max_cycles);
}

uint64_t vsim_cycle(void* h) { return static_cast<Sim*>(h)->cycle; }

bool vsim_interrupt(void* h) { return vta_get_interrupt(static_cast<Sim*>(h)->top.get()); }

const char* vsim_error(void* h) {
    Sim* s = static_cast<Sim*>(h);
    return s->dram.failed() ? s->dram.error().c_str() : s->error.c_str();
}

// DRAM traffic since the last reset: read/write bytes, bursts, beats, stall cycles, bursts
// answered SLVERR (outside the memory).
void vsim_stats(void* h, uint64_t* out) {
    const vta::DramStats& st = static_cast<Sim*>(h)->dram.stats();
    out[0] = st.read_bytes;
    out[1] = st.write_bytes;
    out[2] = st.read_bursts;
    out[3] = st.write_bursts;
    out[4] = st.read_beats;
    out[5] = st.write_beats;
    out[6] = st.r_stall_cycles;
    out[7] = st.w_wait_cycles;
    out[8] = st.error_bursts;
}

void vsim_clear_stats(void* h) { static_cast<Sim*>(h)->dram.clear_stats(); }

// Record cycles [start, stop) to `path`; only in builds made with tracing.
int vsim_trace_open(void* h, const char* path, uint64_t start, uint64_t stop) {
#ifdef VTA_TRACE
    Sim* s = static_cast<Sim*>(h);
    if (s->trace) s->trace->close();
    s->trace.reset(new TraceFile);
    s->top->trace(s->trace.get(), 99);
    s->trace->open(path);
    s->trace_start = start;
    s->trace_stop = stop;
    return OK;
#else
    (void)h; (void)path; (void)start; (void)stop;
    return NO_TRACE;
#endif
}

void vsim_trace_close(void* h) {
#ifdef VTA_TRACE
    Sim* s = static_cast<Sim*>(h);
    if (s->trace) {
        s->trace->close();
        s->trace.reset();
    }
#else
    (void)h;
#endif
}

}  // extern "C"
