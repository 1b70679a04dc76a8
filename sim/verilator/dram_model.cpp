// AXI slave DRAM model: see dram_model.h for the contract.

#include "dram_model.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstring>

namespace vta {

DramModel::DramModel(unsigned bus_bytes) : bus_bytes_(bus_bytes) {
    std::memset(r_data_, 0, sizeof r_data_);
}

void DramModel::set_memory(uint8_t* mem, uint64_t base, uint64_t size) {
    mem_ = mem;
    base_ = base;
    size_ = size;
}

void DramModel::reset() {
    reads_.clear();
    writes_.clear();
    responses_.clear();
    r_valid_ = false;
    r_last_ = false;
    r_credit_ = w_credit_ = 0;
}

void DramModel::fail(const std::string& message) {
    if (error_.empty()) error_ = message;
}

bool DramModel::check_burst(const char* kind, uint64_t addr, uint32_t len, uint32_t size_log,
                            uint32_t burst) {
    char buf[256];
    uint32_t size = 1u << size_log;
    uint64_t bytes = uint64_t(len + 1) * size;
    if (burst != 1) {
        std::snprintf(buf, sizeof buf, "AXI %s burst at %#" PRIx64 " has burst type %u; "
                      "the DRAM model serves INCR (1) only", kind, addr, burst);
        fail(buf);
        return false;
    }
    if (size > bus_bytes_) {
        std::snprintf(buf, sizeof buf, "AXI %s burst at %#" PRIx64 " has beat size %u bytes, "
                      "wider than the %u-byte bus", kind, addr, size, bus_bytes_);
        fail(buf);
        return false;
    }
    if ((addr >> 12) != ((addr + bytes - 1) >> 12)) {
        std::snprintf(buf, sizeof buf, "AXI %s burst [%#" PRIx64 ", %#" PRIx64 ") crosses a "
                      "4 KiB boundary, which AXI forbids", kind, addr, addr + bytes);
        fail(buf);
        return false;
    }
    return true;
}

uint32_t DramModel::response(uint64_t addr, uint32_t len, uint32_t size_log) const {
    uint64_t bytes = uint64_t(len + 1) << size_log;
    bool inside = mem_ != nullptr && addr >= base_ && addr + bytes <= base_ + size_;
    return inside ? 0 : 2;   // OKAY, or SLVERR
}

void DramModel::accrue(uint64_t& credit) {
    // Credits never pile up beyond one beat, so an idle period cannot buy a later burst.
    uint64_t cap = std::max<uint64_t>(bus_bytes_, timing_.bytes_per_cycle);
    credit = std::min<uint64_t>(credit + timing_.bytes_per_cycle, cap);
}

void DramModel::drive(uint64_t cycle, AxiSlaveOut& out) {
    bool limited = timing_.bytes_per_cycle != 0;
    if (limited) {
        accrue(r_credit_);
        accrue(w_credit_);
    }
    // Offer the next read beat once its burst's latency has elapsed.
    if (!r_valid_ && !reads_.empty()) {
        Burst& b = reads_.front();
        if (b.ready_at <= cycle && (!limited || r_credit_ >= b.size)) {
            unsigned lane = unsigned(b.addr % bus_bytes_);
            std::memset(r_data_, 0, bus_bytes_);
            if (b.resp == 0) std::memcpy(r_data_ + lane, mem_ + (b.addr - base_), b.size);
            r_resp_ = b.resp;
            r_last_ = b.done + 1 == b.beats;
            r_valid_ = true;
            if (limited) r_credit_ -= b.size;
        }
    }
    out.arready = reads_.size() < timing_.max_reads;
    out.rvalid = r_valid_;
    out.rdata = r_data_;
    out.rresp = r_valid_ ? r_resp_ : 0;
    out.rlast = r_valid_ && r_last_;
    out.awready = writes_.size() + responses_.size() < timing_.max_writes;
    out.wready = !writes_.empty() && (!limited || w_credit_ >= writes_.front().size);
    out.bvalid = !responses_.empty() && responses_.front().ready_at <= cycle;
    out.bresp = out.bvalid ? responses_.front().resp : 0;
}

void DramModel::edge(uint64_t cycle, const AxiMasterOut& in, const AxiSlaveOut& out) {
    // R: a beat moves on RVALID && RREADY.
    if (out.rvalid) {
        if (in.rready) {
            Burst& b = reads_.front();
            stats_.read_bytes += b.size;
            stats_.read_beats++;
            b.done++;
            b.addr += b.size;
            if (b.done == b.beats) reads_.pop_front();
            r_valid_ = false;
        } else {
            stats_.r_stall_cycles++;
        }
    }
    // W: data for the oldest write burst, written through the strobes.
    if (out.wready && in.wvalid) {
        Burst& b = writes_.front();
        bool last = b.done + 1 == b.beats;
        if (in.wlast != last) {
            char buf[160];
            std::snprintf(buf, sizeof buf, "AXI write burst at %#" PRIx64 ": WLAST is %d on "
                          "beat %u of %u", b.addr, int(in.wlast), b.done + 1, b.beats);
            fail(buf);
        }
        unsigned lane = unsigned(b.addr % bus_bytes_);
        if (b.resp == 0) {
            uint8_t* dst = mem_ + (b.addr - base_);
            for (unsigned i = 0; i < b.size; i++) {
                if (in.wstrb >> (lane + i) & 1) dst[i] = in.wdata[lane + i];
            }
        }
        stats_.write_bytes += b.size;
        stats_.write_beats++;
        if (timing_.bytes_per_cycle != 0) w_credit_ -= b.size;
        b.done++;
        b.addr += b.size;
        if (last) {
            b.ready_at = cycle + std::max<uint32_t>(1, timing_.write_latency);
            responses_.push_back(b);
            writes_.pop_front();
        }
    } else if (in.wvalid) {
        stats_.w_wait_cycles++;
    }
    // B: one response per burst.
    if (out.bvalid && in.bready) responses_.pop_front();
    // AR / AW: accept new bursts.
    if (out.arready && in.arvalid) {
        if (check_burst("read", in.araddr, in.arlen, in.arsize, in.arburst)) {
            uint32_t size = 1u << in.arsize;
            uint32_t resp = response(in.araddr, in.arlen, in.arsize);
            reads_.push_back(Burst{in.araddr, in.arlen + 1, 0, size,
                                   cycle + std::max<uint32_t>(1, timing_.read_latency), resp});
            stats_.read_bursts++;
            if (resp) stats_.error_bursts++;
        }
    }
    if (out.awready && in.awvalid) {
        if (check_burst("write", in.awaddr, in.awlen, in.awsize, in.awburst)) {
            uint32_t resp = response(in.awaddr, in.awlen, in.awsize);
            writes_.push_back(Burst{in.awaddr, in.awlen + 1, 0, 1u << in.awsize, 0, resp});
            stats_.write_bursts++;
            if (resp) stats_.error_bursts++;
        }
    }
}

}  // namespace vta
