// An AXI slave that serves a host buffer as DRAM, with a simple timing model.
//
// The model owns no memory: it reads and writes the caller's buffer (the driver's numpy
// array) through a pointer, so nothing is copied per run.  Timing, per direction:
//   - at most `max_reads` read bursts / `max_writes` write bursts outstanding (ARREADY and
//     AWREADY drop while the limit is reached);
//   - the first beat of a read burst is offered `read_latency` cycles after the address
//     handshake (bursts share one in-order R channel, so later bursts queue behind);
//   - the write response of a burst is offered `write_latency` cycles after its last beat;
//   - data beats are rate-limited to `bytes_per_cycle` (a credit that accrues every cycle);
//     `bytes_per_cycle` == 0 means one full beat per cycle.
// Only INCR bursts inside one 4 KiB page are legal; anything else is a protocol error,
// recorded (the first one wins) and the harness stops the run.  A legal burst outside the
// buffer is answered as a real interconnect would: SLVERR on every read beat (zero data)
// and on the write response, nothing written; `error_bursts` counts them.
//
// Clocking: each cycle the harness calls drive() (slave outputs from state only), lets the
// design settle, samples the master's outputs into an AxiMasterOut, and after the rising
// edge calls edge() with them; handshakes are valid && ready of that cycle.

#ifndef VTA_DRAM_MODEL_H
#define VTA_DRAM_MODEL_H

#include <cstdint>
#include <deque>
#include <string>

namespace vta {

struct DramTiming {
    uint32_t read_latency = 32;
    uint32_t write_latency = 32;
    uint32_t bytes_per_cycle = 0;  // 0: one full bus beat per cycle
    uint32_t max_reads = 8;
    uint32_t max_writes = 8;
};

// What the master (the design) drives in one cycle.
struct AxiMasterOut {
    bool arvalid = false;
    uint64_t araddr = 0;
    uint32_t arlen = 0, arsize = 0, arburst = 1;
    bool rready = false;
    bool awvalid = false;
    uint64_t awaddr = 0;
    uint32_t awlen = 0, awsize = 0, awburst = 1;
    bool wvalid = false;
    const uint8_t* wdata = nullptr;  // bus_bytes bytes, lane 0 first
    uint64_t wstrb = 0;
    bool wlast = false;
    bool bready = false;
};

// What the slave (this model) drives in one cycle.
struct AxiSlaveOut {
    bool arready = false;
    bool rvalid = false;
    const uint8_t* rdata = nullptr;
    uint32_t rresp = 0;
    bool rlast = false;
    bool awready = false;
    bool wready = false;
    bool bvalid = false;
    uint32_t bresp = 0;
};

struct DramStats {
    uint64_t read_bytes = 0, write_bytes = 0;
    uint64_t read_bursts = 0, write_bursts = 0;
    uint64_t read_beats = 0, write_beats = 0;
    uint64_t r_stall_cycles = 0;  // RVALID high, RREADY low
    uint64_t w_wait_cycles = 0;   // WVALID high, WREADY low
    uint64_t error_bursts = 0;    // bursts outside the memory, answered SLVERR
};

class DramModel {
  public:
    explicit DramModel(unsigned bus_bytes);

    void set_memory(uint8_t* mem, uint64_t base, uint64_t size);
    void set_timing(const DramTiming& timing) { timing_ = timing; }
    const DramTiming& timing() const { return timing_; }
    // Drop every burst in flight (the design is being reset).
    void reset();

    void drive(uint64_t cycle, AxiSlaveOut& out);
    void edge(uint64_t cycle, const AxiMasterOut& in, const AxiSlaveOut& out);

    bool failed() const { return !error_.empty(); }
    const std::string& error() const { return error_; }
    void clear_error() { error_.clear(); }
    const DramStats& stats() const { return stats_; }
    void clear_stats() { stats_ = DramStats(); }
    bool idle() const { return reads_.empty() && writes_.empty() && responses_.empty(); }

  private:
    struct Burst {
        uint64_t addr;       // address of the next beat
        uint32_t beats;      // beats in the burst
        uint32_t done;       // beats transferred so far
        uint32_t size;       // bytes per beat
        uint64_t ready_at;   // first cycle the burst may move data / respond
        uint32_t resp;       // response: 0 OKAY, 2 SLVERR (outside the memory)
    };

    bool check_burst(const char* kind, uint64_t addr, uint32_t len, uint32_t size_log,
                     uint32_t burst);
    uint32_t response(uint64_t addr, uint32_t len, uint32_t size_log) const;
    void fail(const std::string& message);
    void accrue(uint64_t& credit);

    unsigned bus_bytes_;
    DramTiming timing_;
    uint8_t* mem_ = nullptr;
    uint64_t base_ = 0, size_ = 0;

    std::deque<Burst> reads_;      // accepted read bursts, in order
    std::deque<Burst> writes_;     // accepted write bursts still taking data
    std::deque<Burst> responses_;  // write bursts waiting to send B
    bool r_valid_ = false;         // a read beat is being offered
    uint8_t r_data_[256];
    bool r_last_ = false;
    uint32_t r_resp_ = 0;
    uint64_t r_credit_ = 0, w_credit_ = 0;
    DramStats stats_;
    std::string error_;
};

}  // namespace vta

#endif  // VTA_DRAM_MODEL_H
