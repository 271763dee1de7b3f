// The control plane's framing and payload readers: what a well-formed stream
// yields, and that nothing a peer sends (wrong headers, lying sizes, counts
// that do not fit, bytes cut anywhere) makes a reader misread or read out of
// bounds. The randomized tests use fixed seeds, so a failure repeats.
#include "ipc/protocol.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

namespace xsched::ipc {
namespace {

using Bytes = std::vector<std::byte>;

constexpr uint16_t kFirstType = static_cast<uint16_t>(MsgType::kHello);
constexpr uint16_t kLastType = static_cast<uint16_t>(MsgType::kGatePage);
// What FrameReader may hold at once: one message of the largest size and the
// header of the next.
constexpr std::size_t kReaderLimit = sizeof(Header) + kMaxPayload + sizeof(Header);

Bytes encoded(MsgType type, const Bytes& payload) {
  Bytes out;
  encode(type, payload, &out);
  return out;
}

Bytes pattern(std::size_t n, uint8_t seed = 0) {
  Bytes b(n);
  for (std::size_t i = 0; i < n; ++i) b[i] = static_cast<std::byte>(seed + i * 7);
  return b;
}

Bytes header_bytes(uint32_t magic, uint16_t type, uint16_t reserved, uint32_t size) {
  Bytes b;
  append(&b, Header{magic, type, reserved, size});
  return b;
}

Header header_of(const Bytes& frame) {
  Header h;
  std::memcpy(&h, frame.data(), sizeof h);
  return h;
}

struct Received {
  MsgType type;
  Bytes payload;
  bool operator==(const Received&) const = default;
};

// Takes every complete frame out of r (copied: a frame lives until the next
// feed) and returns the status that ended the loop.
FrameReader::Status drain(FrameReader& r, std::vector<Received>* got) {
  Frame f{};
  FrameReader::Status st;
  while ((st = r.next(&f)) == FrameReader::Status::kFrame) {
    got->push_back({f.type, Bytes(f.payload.begin(), f.payload.end())});
  }
  return st;
}

// ---- the message lists ----

// Every type from the first to the last is a message of one of the lists,
// with a name of its own; the numbers around them are not.
TEST(IpcMessages, TheListsNameEveryTypeOnce) {
  std::vector<std::string> names;
  for (uint16_t t = kFirstType; t <= kLastType; ++t) {
    EXPECT_TRUE(known_type(t)) << t;
    names.emplace_back(message_name(static_cast<MsgType>(t)));
  }
  std::sort(names.begin(), names.end());
  EXPECT_EQ(std::adjacent_find(names.begin(), names.end()), names.end());
  EXPECT_EQ(std::count(names.begin(), names.end(), "unknown"), 0);
  EXPECT_FALSE(known_type(0));
  EXPECT_FALSE(known_type(kLastType + 1));
  EXPECT_STREQ(message_name(static_cast<MsgType>(kLastType + 1)), "unknown");
  EXPECT_STREQ(message_name(MsgType::kSetPolicy), "SetPolicy");
  EXPECT_GE(kLargestRequest, sizeof(HintsChange));
}

// ---- encode ----

TEST(IpcEncode, WritesTheHeaderThenThePayload) {
  const Bytes payload = pattern(5);
  Bytes out(3, std::byte{0xee});  // encode replaces what was there
  encode(MsgType::kHints, payload, &out);
  ASSERT_EQ(out.size(), sizeof(Header) + payload.size());
  const Header h = header_of(out);
  EXPECT_EQ(h.magic, kMagic);
  EXPECT_EQ(h.type, static_cast<uint16_t>(MsgType::kHints));
  EXPECT_EQ(h.reserved, 0u);
  EXPECT_EQ(h.size, payload.size());
  EXPECT_TRUE(std::equal(payload.begin(), payload.end(), out.begin() + sizeof(Header)));
}

TEST(IpcEncode, AMessageWithoutPayloadIsJustTheHeader) {
  const Bytes out = encoded(MsgType::kList, {});
  ASSERT_EQ(out.size(), sizeof(Header));
  EXPECT_EQ(header_of(out).size, 0u);
  EXPECT_EQ(header_of(out).type, static_cast<uint16_t>(MsgType::kList));
}

// A queue of replies grows by doubling: appending many messages one by one
// copies the queue a logarithmic number of times, not once per message.
TEST(IpcEncode, AppendingManyMessagesGrowsTheBufferGeometrically) {
  Bytes out;
  const Bytes payload = pattern(180);
  int growths = 0;
  for (int i = 0; i < 20000; ++i) {
    const std::size_t before = out.capacity();
    append_message(MsgType::kListReply, payload, &out);
    if (out.capacity() != before) ++growths;
  }
  EXPECT_EQ(out.size(), 20000 * (sizeof(Header) + payload.size()));
  EXPECT_LE(growths, 40) << "the buffer grew " << growths << " times for 20000 messages";
}

TEST(IpcFrameReader, BufferedCountsWhatWasNotHandedOut) {
  const Bytes one = encoded(MsgType::kList, {});
  FrameReader r;
  EXPECT_EQ(r.buffered(), 0u);
  Bytes two = one;
  two.insert(two.end(), one.begin(), one.end());
  two.push_back(std::byte{1});  // the start of a third
  ASSERT_EQ(r.feed(two), FrameReader::Status::kNeedMore);
  EXPECT_EQ(r.buffered(), two.size());
  Frame f{};
  ASSERT_EQ(r.next(&f), FrameReader::Status::kFrame);
  EXPECT_EQ(r.buffered(), one.size() + 1);
  ASSERT_EQ(r.next(&f), FrameReader::Status::kFrame);
  EXPECT_EQ(r.buffered(), 1u);
  EXPECT_EQ(r.next(&f), FrameReader::Status::kNeedMore);
}

TEST(IpcEncode, AStructRoundTripsThroughEncodeReaderAndReadExact) {
  const HintsChange sent{1234, kHintPriority | kHintDeadline, 77, -3, 2, 5'000'000, 0, {}};
  const auto raw = bytes_of(sent);
  const Bytes wire = encoded(MsgType::kHints, Bytes(raw.begin(), raw.end()));
  FrameReader r;
  ASSERT_EQ(r.feed(wire), FrameReader::Status::kNeedMore);
  Frame f{};
  ASSERT_EQ(r.next(&f), FrameReader::Status::kFrame);
  EXPECT_EQ(f.type, MsgType::kHints);
  HintsChange got{};
  ASSERT_TRUE(read_exact(f.payload, &got));
  EXPECT_EQ(std::memcmp(&got, &sent, sizeof got), 0);
}

// ---- FrameReader ----

TEST(IpcFrameReader, WaitsForTheWholeHeaderAndPayload) {
  const Bytes wire = encoded(MsgType::kSetPolicy, pattern(8));
  FrameReader r;
  Frame f{};
  EXPECT_EQ(r.next(&f), FrameReader::Status::kNeedMore);  // nothing fed yet
  ASSERT_EQ(r.feed({wire.data(), sizeof(Header) - 1}), FrameReader::Status::kNeedMore);
  EXPECT_EQ(r.next(&f), FrameReader::Status::kNeedMore);
  ASSERT_EQ(r.feed({wire.data() + sizeof(Header) - 1, 4}), FrameReader::Status::kNeedMore);
  EXPECT_EQ(r.next(&f), FrameReader::Status::kNeedMore);  // header complete, payload not
  ASSERT_EQ(r.feed({wire.data() + sizeof(Header) + 3, wire.size() - sizeof(Header) - 3}),
            FrameReader::Status::kNeedMore);
  ASSERT_EQ(r.next(&f), FrameReader::Status::kFrame);
  EXPECT_EQ(f.type, MsgType::kSetPolicy);
  EXPECT_EQ(Bytes(f.payload.begin(), f.payload.end()), pattern(8));
  EXPECT_EQ(r.next(&f), FrameReader::Status::kNeedMore);  // handed out once only
}

TEST(IpcFrameReader, CutsSeveralFramesFedAtOnce) {
  const std::vector<Received> sent{{MsgType::kHello, pattern(8, 1)},
                                   {MsgType::kOk, {}},
                                   {MsgType::kError, pattern(248, 2)},
                                   {MsgType::kList, {}}};
  Bytes wire;
  for (const auto& m : sent) {
    const Bytes one = encoded(m.type, m.payload);
    wire.insert(wire.end(), one.begin(), one.end());
  }
  FrameReader r;
  ASSERT_EQ(r.feed(wire), FrameReader::Status::kNeedMore);
  std::vector<Received> got;
  EXPECT_EQ(drain(r, &got), FrameReader::Status::kNeedMore);
  EXPECT_EQ(got, sent);
}

TEST(IpcFrameReader, AcceptsEveryKnownType) {
  for (uint16_t t = kFirstType; t <= kLastType; ++t) {
    FrameReader r;
    ASSERT_EQ(r.feed(encoded(static_cast<MsgType>(t), pattern(3))), FrameReader::Status::kNeedMore);
    Frame f{};
    EXPECT_EQ(r.next(&f), FrameReader::Status::kFrame) << "type " << t;
  }
}

// Each header that breaks a rule, and the reader's answer once it is whole.
TEST(IpcFrameReader, RejectsAHeaderThatBreaksARuleAndStaysBroken) {
  const struct {
    const char* why;
    Bytes header;
  } cases[] = {
      {"wrong magic", header_bytes(kMagic ^ 1u, kFirstType, 0, 0)},
      {"type 0", header_bytes(kMagic, 0, 0, 0)},
      {"type past the last", header_bytes(kMagic, kLastType + 1, 0, 0)},
      {"type 0xffff", header_bytes(kMagic, 0xffff, 0, 0)},
      {"reserved set", header_bytes(kMagic, kFirstType, 1, 0)},
      {"size over kMaxPayload", header_bytes(kMagic, kFirstType, 0, kMaxPayload + 1)},
      {"size 0xffffffff", header_bytes(kMagic, kFirstType, 0, UINT32_MAX)},
  };
  const Bytes good = encoded(MsgType::kOk, {});
  for (const auto& c : cases) {
    SCOPED_TRACE(c.why);
    FrameReader r;
    Frame f{};
    // A valid frame before the bad one still comes out.
    ASSERT_EQ(r.feed(good), FrameReader::Status::kNeedMore);
    ASSERT_EQ(r.feed({c.header.data(), c.header.size() - 1}), FrameReader::Status::kNeedMore);
    ASSERT_EQ(r.next(&f), FrameReader::Status::kFrame);
    EXPECT_EQ(r.next(&f), FrameReader::Status::kNeedMore);  // cannot tell before the header is whole
    ASSERT_EQ(r.feed({c.header.data() + c.header.size() - 1, 1}), FrameReader::Status::kNeedMore);
    EXPECT_EQ(r.next(&f), FrameReader::Status::kBad);
    // Nothing brings it back: the rest of the stream cannot be trusted.
    EXPECT_EQ(r.feed(good), FrameReader::Status::kBad);
    EXPECT_EQ(r.next(&f), FrameReader::Status::kBad);
    EXPECT_EQ(r.next(&f), FrameReader::Status::kBad);
  }
}

TEST(IpcFrameReader, TakesAPayloadOfExactlyKMaxPayload) {
  Bytes payload(kMaxPayload);
  payload.front() = std::byte{1};
  payload.back() = std::byte{2};
  const Bytes wire = encoded(MsgType::kSamplesReply, payload);
  FrameReader r;
  // Fed all at once, together with the next header: within the limit.
  ASSERT_EQ(r.feed(wire), FrameReader::Status::kNeedMore);
  ASSERT_EQ(r.feed(encoded(MsgType::kOk, {})), FrameReader::Status::kNeedMore);
  Frame f{};
  ASSERT_EQ(r.next(&f), FrameReader::Status::kFrame);
  EXPECT_EQ(f.type, MsgType::kSamplesReply);
  ASSERT_EQ(f.payload.size(), kMaxPayload);
  EXPECT_EQ(f.payload.front(), std::byte{1});
  EXPECT_EQ(f.payload.back(), std::byte{2});
  ASSERT_EQ(r.next(&f), FrameReader::Status::kFrame);
  EXPECT_EQ(f.type, MsgType::kOk);
}

TEST(IpcFrameReader, RejectsMoreUnreadBytesThanOneLargestMessage) {
  FrameReader r;
  // A peer that announces the largest message and sends more than it.
  Bytes wire = header_bytes(kMagic, kFirstType, 0, kMaxPayload);
  wire.resize(kReaderLimit);
  ASSERT_EQ(r.feed(wire), FrameReader::Status::kNeedMore);  // exactly the limit
  EXPECT_EQ(r.feed(Bytes(1)), FrameReader::Status::kBad);
  Frame f{};
  EXPECT_EQ(r.next(&f), FrameReader::Status::kBad);  // stays broken
  EXPECT_EQ(r.feed(encoded(MsgType::kOk, {})), FrameReader::Status::kBad);
}

TEST(IpcFrameReader, RejectsOneFeedLargerThanTheLimit) {
  FrameReader r;
  EXPECT_EQ(r.feed(Bytes(kReaderLimit + 1)), FrameReader::Status::kBad);
  Frame f{};
  EXPECT_EQ(r.next(&f), FrameReader::Status::kBad);
}

TEST(IpcFrameReader, FramesHandedOutFreeTheirSpace) {
  // Many largest messages in a row: each fits once the one before was taken.
  const Bytes wire = encoded(MsgType::kListReply, Bytes(kMaxPayload));
  FrameReader r;
  for (int i = 0; i < 4; ++i) {
    ASSERT_EQ(r.feed(wire), FrameReader::Status::kNeedMore) << "message " << i;
    Frame f{};
    ASSERT_EQ(r.next(&f), FrameReader::Status::kFrame) << "message " << i;
    EXPECT_EQ(f.payload.size(), kMaxPayload);
  }
}

// ---- read_exact, read_records, read_list ----

TEST(IpcReadExact, TakesOnlyAPayloadOfExactlyTheStructsSize) {
  const PolicyMsg sent{3, 0, {}};
  const auto b = bytes_of(sent);
  PolicyMsg got{};
  ASSERT_TRUE(read_exact(b, &got));
  EXPECT_EQ(got.policy, 3u);
  EXPECT_FALSE(read_exact(b.first(b.size() - 1), &got));
  EXPECT_FALSE(read_exact(std::span<const std::byte>{}, &got));
  Bytes longer(b.begin(), b.end());
  longer.push_back(std::byte{0});
  EXPECT_FALSE(read_exact(std::span<const std::byte>(longer), &got));
}

uint64_t sample_count(const SamplesHead& h) { return h.count; }

Bytes samples_payload(uint32_t count_in_head, const std::vector<Sample>& samples) {
  Bytes b;
  append(&b, SamplesHead{count_in_head, 0});
  for (const Sample& s : samples) append(&b, s);
  return b;
}

TEST(IpcReadRecords, ReadsTheHeadAndEveryRecord) {
  const std::vector<Sample> sent{{100, 1, 1, 10, 50, 1, 0}, {-1, 2, 2, 20, 0, 2, 0}, {300, 3, 1, 30, 7, 1, 0}};
  const Bytes b = samples_payload(3, sent);
  SamplesHead head{};
  std::vector<Sample> got;
  ASSERT_TRUE(read_records(std::span<const std::byte>(b), &head, &got, sample_count));
  EXPECT_EQ(head.count, 3u);
  ASSERT_EQ(got.size(), 3u);
  for (std::size_t i = 0; i < got.size(); ++i) EXPECT_EQ(std::memcmp(&got[i], &sent[i], sizeof(Sample)), 0) << i;
}

TEST(IpcReadRecords, AnEmptyListLeavesNoRecords) {
  const Bytes b = samples_payload(0, {});
  SamplesHead head{};
  std::vector<Sample> got(2);  // replaced, not appended to
  ASSERT_TRUE(read_records(std::span<const std::byte>(b), &head, &got, sample_count));
  EXPECT_TRUE(got.empty());
}

TEST(IpcReadRecords, RejectsAPayloadShorterThanTheHead) {
  const Bytes b = samples_payload(0, {});
  SamplesHead head{};
  std::vector<Sample> got;
  EXPECT_FALSE(read_records(std::span<const std::byte>(b).first(sizeof(SamplesHead) - 1), &head, &got, sample_count));
  EXPECT_FALSE(read_records(std::span<const std::byte>{}, &head, &got, sample_count));
}

TEST(IpcReadRecords, RejectsACountThatDoesNotMatchTheRecords) {
  const std::vector<Sample> two{{1, 1, 1, 1, 0, 1, 0}, {2, 2, 2, 2, 0, 1, 0}};
  SamplesHead head{};
  std::vector<Sample> got;
  for (uint32_t claimed : {0u, 1u, 3u, UINT32_MAX}) {
    const Bytes b = samples_payload(claimed, two);
    EXPECT_FALSE(read_records(std::span<const std::byte>(b), &head, &got, sample_count)) << "count " << claimed;
  }
  // The right count with a byte too many or too few.
  Bytes extra = samples_payload(2, two);
  extra.push_back(std::byte{0});
  EXPECT_FALSE(read_records(std::span<const std::byte>(extra), &head, &got, sample_count));
  const Bytes whole = samples_payload(2, two);
  EXPECT_FALSE(read_records(std::span<const std::byte>(whole).first(whole.size() - 1), &head, &got, sample_count));
}

// A head whose count is 64 bits wide, so a count can make count * record size
// wrap around to the payload's real size.
struct WideHead {
  uint64_t count;
};
uint64_t wide_count(const WideHead& h) { return h.count; }

TEST(IpcReadRecords, RejectsACountWhoseByteSizeWrapsAround) {
  static_assert(sizeof(Sample) == 40);
  // (2^61 + 1) * 40 = 5 * 2^64 + 40: one record's worth, modulo 2^64.
  const uint64_t wrapping = (uint64_t{1} << 61) + 1;
  ASSERT_EQ(wrapping * sizeof(Sample), sizeof(Sample));
  Bytes b;
  append(&b, WideHead{wrapping});
  append(&b, Sample{1, 2, 1, 3, 0, 1, 0});
  WideHead head{};
  std::vector<Sample> got;
  EXPECT_FALSE(read_records(std::span<const std::byte>(b), &head, &got, wide_count));
  EXPECT_TRUE(got.empty());  // and nothing was allocated for it
}

ProcessRecord process(uint32_t pid) {
  ProcessRecord p{};
  p.pid = pid;
  p.uid = 1000 + pid;
  copy_text(p.name, ("proc" + std::to_string(pid)).c_str());
  p.registered_ns = pid * 1000;
  p.queues = pid % 3;
  return p;
}

QueueRecord queue(uint64_t id) {
  QueueRecord q{};
  q.id = id;
  q.local_id = id + 100;
  q.pid = static_cast<uint32_t>(id % 7);
  q.device = -1;
  q.priority = -static_cast<int32_t>(id);
  q.latency_p50_ns = -1;
  q.submitted = id * 10;
  return q;
}

Bytes list_payload(ListHead head, std::size_t procs, std::size_t queues) {
  Bytes b;
  append(&b, head);
  for (std::size_t i = 0; i < procs; ++i) append(&b, process(static_cast<uint32_t>(i + 1)));
  for (std::size_t i = 0; i < queues; ++i) append(&b, queue(i + 1));
  return b;
}

TEST(IpcReadList, ReadsProcessesThenQueues) {
  const Bytes b = list_payload({2, 3, 1, 0}, 2, 3);
  ListHead head{};
  std::vector<ProcessRecord> procs;
  std::vector<QueueRecord> queues;
  ASSERT_TRUE(read_list(std::span<const std::byte>(b), &head, &procs, &queues));
  EXPECT_EQ(head.policy, 1u);
  ASSERT_EQ(procs.size(), 2u);
  ASSERT_EQ(queues.size(), 3u);
  for (uint32_t i = 0; i < 2; ++i) {
    const ProcessRecord want = process(i + 1);
    EXPECT_EQ(std::memcmp(&procs[i], &want, sizeof want), 0) << "process " << i;
  }
  for (uint64_t i = 0; i < 3; ++i) {
    const QueueRecord want = queue(i + 1);
    EXPECT_EQ(std::memcmp(&queues[i], &want, sizeof want), 0) << "queue " << i;
  }
}

TEST(IpcReadList, AnEmptyListIsJustTheHead) {
  const Bytes b = list_payload({0, 0, 0, 0}, 0, 0);
  ListHead head{};
  std::vector<ProcessRecord> procs(1);
  std::vector<QueueRecord> queues(1);
  ASSERT_TRUE(read_list(std::span<const std::byte>(b), &head, &procs, &queues));
  EXPECT_TRUE(procs.empty());
  EXPECT_TRUE(queues.empty());
}

TEST(IpcReadList, RejectsAPayloadShorterThanTheHead) {
  const Bytes b = list_payload({0, 0, 0, 0}, 0, 0);
  ListHead head{};
  std::vector<ProcessRecord> procs;
  std::vector<QueueRecord> queues;
  EXPECT_FALSE(read_list(std::span<const std::byte>(b).first(sizeof(ListHead) - 1), &head, &procs, &queues));
  EXPECT_FALSE(read_list(std::span<const std::byte>{}, &head, &procs, &queues));
}

TEST(IpcReadList, RejectsCountsThatDoNotMatchTheSize) {
  ListHead head{};
  std::vector<ProcessRecord> procs;
  std::vector<QueueRecord> queues;
  const struct {
    ListHead claimed;
    std::size_t sent_procs, sent_queues;
  } cases[] = {
      {{1, 1, 0, 0}, 1, 2},                  // one queue too many sent
      {{1, 3, 0, 0}, 1, 2},                  // one queue too few sent
      {{2, 1, 0, 0}, 1, 1},                  // a process short
      {{0, 1, 0, 0}, 1, 1},                  // a process not counted
      {{UINT32_MAX, 0, 0, 0}, 2, 0},         // a count far beyond the payload
      {{0, UINT32_MAX, 0, 0}, 0, 2},
      {{UINT32_MAX, UINT32_MAX, 0, 0}, 1, 1},
      {{1, UINT32_MAX, 0, 0}, 1, 0},         // processes fill the body; no room for queues
  };
  for (const auto& c : cases) {
    const Bytes b = list_payload(c.claimed, c.sent_procs, c.sent_queues);
    EXPECT_FALSE(read_list(std::span<const std::byte>(b), &head, &procs, &queues))
        << c.claimed.processes << " processes and " << c.claimed.queues << " queues claimed, " << c.sent_procs << " and "
        << c.sent_queues << " sent";
  }
  // Right counts, a byte too many or too few.
  Bytes extra = list_payload({1, 1, 0, 0}, 1, 1);
  extra.push_back(std::byte{0});
  EXPECT_FALSE(read_list(std::span<const std::byte>(extra), &head, &procs, &queues));
  const Bytes whole = list_payload({1, 1, 0, 0}, 1, 1);
  EXPECT_FALSE(read_list(std::span<const std::byte>(whole).first(whole.size() - 1), &head, &procs, &queues));
}

// ---- copy_text, text_length ----

TEST(IpcText, CopyTextFitsAndClearsTheRest) {
  char dst[8];
  std::memset(dst, 'x', sizeof dst);
  copy_text(dst, "abc");
  EXPECT_STREQ(dst, "abc");
  for (std::size_t i = 3; i < sizeof dst; ++i) EXPECT_EQ(dst[i], '\0') << i;  // no stale bytes go out
  EXPECT_EQ(text_length(dst), 3u);
}

TEST(IpcText, CopyTextCutsALongStringAndKeepsTheNul) {
  char dst[8];
  copy_text(dst, "1234567");  // exactly fits
  EXPECT_STREQ(dst, "1234567");
  copy_text(dst, "123456789abc");
  EXPECT_STREQ(dst, "1234567");
  EXPECT_EQ(dst[7], '\0');
  EXPECT_EQ(text_length(dst), 7u);
}

TEST(IpcText, CopyTextOfNothingIsEmpty) {
  char dst[4];
  std::memset(dst, 'x', sizeof dst);
  copy_text(dst, nullptr);
  for (char c : dst) EXPECT_EQ(c, '\0');
  std::memset(dst, 'x', sizeof dst);
  copy_text(dst, "");
  for (char c : dst) EXPECT_EQ(c, '\0');
  EXPECT_EQ(text_length(dst), 0u);
}

TEST(IpcText, TextLengthStopsAtTheArrayWithoutANul) {
  // As a peer may send it: every byte set, no terminator.
  char s[5] = {'a', 'b', 'c', 'd', 'e'};
  EXPECT_EQ(text_length(s), 5u);
  s[2] = '\0';
  EXPECT_EQ(text_length(s), 2u);
}

TEST(IpcText, PrintableTextKeepsPrintableAsciiAndEscapesEveryOtherByte) {
  EXPECT_EQ(printable_text("python3 train.py"), "python3 train.py");
  EXPECT_EQ(printable_text("\x1b[2J\x1b]0;owned\x07"), "\\x1b[2J\\x1b]0;owned\\x07");
  EXPECT_EQ(printable_text("a\nb\rc\td"), "a\\x0ab\\x0dc\\x09d");
  EXPECT_EQ(printable_text("\x7f\x9b\xc3\xa9"), "\\x7f\\x9b\\xc3\\xa9");  // DEL, a C1 escape, UTF-8
  EXPECT_EQ(printable_text("back\\slash"), "back\\\\slash");  // so that \x1b typed by the process reads apart
  EXPECT_EQ(printable_text(std::string_view("a\0b", 3)), "a\\x00b");
  EXPECT_EQ(printable_text(""), "");
}

TEST(IpcText, PrintableTextOfEveryByteHoldsNoControlByte) {
  std::string all;
  for (int b = 0; b < 256; ++b) all += static_cast<char>(b);
  for (const char ch : printable_text(all)) {
    const auto b = static_cast<unsigned char>(ch);
    ASSERT_TRUE(b >= 0x20 && b < 0x7f) << "byte " << static_cast<int>(b) << " came through";
  }
}

// ---- randomized ----

bool valid_header(const Header& h) {
  return h.magic == kMagic && h.type >= kFirstType && h.type <= kLastType && h.reserved == 0 && h.size <= kMaxPayload;
}

// What the reader must answer for a stream of which `fed` was fed and the
// bytes before `at` were handed out.
FrameReader::Status expected_next(const Bytes& fed, std::size_t at, Header* h) {
  if (fed.size() - at < sizeof(Header)) return FrameReader::Status::kNeedMore;
  std::memcpy(h, fed.data() + at, sizeof *h);
  if (!valid_header(*h)) return FrameReader::Status::kBad;
  if (fed.size() - at - sizeof(Header) < h->size) return FrameReader::Status::kNeedMore;
  return FrameReader::Status::kFrame;
}

Bytes random_bytes(std::mt19937_64& rng, std::size_t n) {
  Bytes b(n);
  for (auto& x : b) x = static_cast<std::byte>(rng());
  return b;
}

MsgType random_type(std::mt19937_64& rng) {
  return static_cast<MsgType>(kFirstType + rng() % (kLastType - kFirstType + 1));
}

// A piece of a stream: a valid frame, a valid frame with something broken or
// cut off, or noise.
Bytes random_piece(std::mt19937_64& rng) {
  Bytes f = encoded(random_type(rng), random_bytes(rng, rng() % 4 == 0 ? 0 : rng() % 96));
  switch (rng() % 8) {
    case 0:
    case 1:
    case 2:
      return f;  // valid
    case 3: {    // a flipped bit anywhere
      f[rng() % f.size()] ^= static_cast<std::byte>(1u << (rng() % 8));
      return f;
    }
    case 4: {  // a size that lies, often near the limits
      const uint32_t sizes[] = {0, 1, kMaxPayload, kMaxPayload + 1, UINT32_MAX, static_cast<uint32_t>(rng() % 200),
                                static_cast<uint32_t>(rng())};
      const uint32_t size = sizes[rng() % std::size(sizes)];
      std::memcpy(f.data() + offsetof(Header, size), &size, sizeof size);
      return f;
    }
    case 5: {  // any type
      const auto type = static_cast<uint16_t>(rng());
      std::memcpy(f.data() + offsetof(Header, type), &type, sizeof type);
      return f;
    }
    case 6:  // cut short: the next piece fills the gap
      f.resize(rng() % f.size());
      return f;
    default:
      return random_bytes(rng, 1 + rng() % 40);
  }
}

struct FuzzTally {
  std::size_t frames = 0;
  std::size_t broken = 0;   // streams the reader rejected
  std::size_t waiting = 0;  // streams that ended with the reader waiting for more
};

// Feeds `stream` to a reader in chunks of random sizes and checks every
// answer against expected_next(): frames are exactly the stream's bytes at
// the right place, a broken stream stays broken.
void feed_and_check(std::mt19937_64& rng, const Bytes& stream, FuzzTally* tally) {
  FrameReader r;
  Bytes fed;
  std::size_t at = 0;  // start of the first frame not handed out yet
  bool broken = false;
  std::size_t pos = 0;
  while (pos < stream.size()) {
    const std::size_t max_chunk = rng() % 4 == 0 ? stream.size() : 1 + rng() % 48;
    const std::size_t n = std::min(stream.size() - pos, 1 + rng() % max_chunk);
    const std::span<const std::byte> chunk(stream.data() + pos, n);
    pos += n;
    const FrameReader::Status fst = r.feed(chunk);
    if (broken) {
      ASSERT_EQ(fst, FrameReader::Status::kBad) << "fed after the stream broke, at byte " << pos;
      continue;
    }
    if (fed.size() - at + n > kReaderLimit) {
      ASSERT_EQ(fst, FrameReader::Status::kBad) << "overfull at byte " << pos;
      broken = true;
      continue;
    }
    ASSERT_EQ(fst, FrameReader::Status::kNeedMore) << "feed at byte " << pos;
    fed.insert(fed.end(), chunk.begin(), chunk.end());
    for (;;) {
      Frame f{};
      const FrameReader::Status st = r.next(&f);
      Header h{};
      const FrameReader::Status want = expected_next(fed, at, &h);
      ASSERT_EQ(st, want) << "frame at stream byte " << at << ", " << fed.size() << " bytes fed";
      if (st == FrameReader::Status::kBad) broken = true;
      if (st != FrameReader::Status::kFrame) break;
      const auto type = static_cast<uint16_t>(f.type);
      ASSERT_TRUE(type >= kFirstType && type <= kLastType) << type;
      ASSERT_EQ(type, h.type);
      ASSERT_LE(f.payload.size(), kMaxPayload);
      ASSERT_EQ(f.payload.size(), h.size);
      ASSERT_LE(at + sizeof(Header) + f.payload.size(), fed.size());
      ASSERT_TRUE(std::equal(f.payload.begin(), f.payload.end(), fed.begin() + static_cast<std::ptrdiff_t>(at + sizeof(Header))))
          << "payload of the frame at stream byte " << at;
      at += sizeof(Header) + f.payload.size();
      ++tally->frames;
    }
  }
  Frame f{};
  if (broken) {
    ASSERT_EQ(r.next(&f), FrameReader::Status::kBad);
    ++tally->broken;
  } else {
    ASSERT_EQ(r.next(&f), FrameReader::Status::kNeedMore);
    ++tally->waiting;
  }
}

TEST(IpcFuzz, ReaderSurvivesNoiseAndBrokenFramesInRandomChunks) {
  FuzzTally tally;
  for (uint64_t seed : {1u, 2u, 3u}) {
    std::mt19937_64 rng(seed);
    for (int i = 0; i < 600; ++i) {
      Bytes stream;
      if (rng() % 10 == 0) {
        stream = random_bytes(rng, rng() % 512);  // pure noise
      } else {
        for (int pieces = 1 + static_cast<int>(rng() % 12); pieces > 0; --pieces) {
          const Bytes p = random_piece(rng);
          stream.insert(stream.end(), p.begin(), p.end());
        }
      }
      SCOPED_TRACE("seed " + std::to_string(seed) + ", stream " + std::to_string(i));
      feed_and_check(rng, stream, &tally);
      if (HasFatalFailure()) return;
    }
  }
  // The generator must reach every outcome, not only broken heads.
  EXPECT_GT(tally.frames, 1000u);
  EXPECT_GT(tally.broken, 100u);
  EXPECT_GT(tally.waiting, 100u);
}

TEST(IpcFuzz, ValidFramesSplitAtAnyTwoBoundariesComeOutIdentical) {
  std::mt19937_64 rng(42);
  std::vector<Received> sent{{MsgType::kHello, random_bytes(rng, sizeof(Hello))},
                             {MsgType::kList, {}},
                             {MsgType::kError, random_bytes(rng, 37)},
                             {MsgType::kOk, {}},
                             {MsgType::kSamplesReply, random_bytes(rng, 50)}};
  Bytes wire;
  for (const auto& m : sent) {
    const Bytes one = encoded(m.type, m.payload);
    wire.insert(wire.end(), one.begin(), one.end());
  }
  const std::span<const std::byte> all(wire);
  // Three feeds: [0, i), [i, j), [j, end), with frames taken after each.
  for (std::size_t i = 0; i <= wire.size(); ++i) {
    for (std::size_t j = i; j <= wire.size(); ++j) {
      FrameReader r;
      std::vector<Received> got;
      for (auto part : {all.subspan(0, i), all.subspan(i, j - i), all.subspan(j)}) {
        ASSERT_EQ(r.feed(part), FrameReader::Status::kNeedMore) << "split at " << i << " and " << j;
        ASSERT_EQ(drain(r, &got), FrameReader::Status::kNeedMore) << "split at " << i << " and " << j;
      }
      ASSERT_EQ(got, sent) << "split at " << i << " and " << j;
    }
  }
  // And one byte at a time.
  FrameReader r;
  std::vector<Received> got;
  for (std::size_t k = 0; k < wire.size(); ++k) {
    ASSERT_EQ(r.feed(all.subspan(k, 1)), FrameReader::Status::kNeedMore);
    ASSERT_EQ(drain(r, &got), FrameReader::Status::kNeedMore);
  }
  EXPECT_EQ(got, sent);
}

// A payload in its own allocation of exactly its size, so that AddressSanitizer
// sees any read past its end.
struct ExactBuffer {
  explicit ExactBuffer(const Bytes& b) : data(std::make_unique<std::byte[]>(b.size())), size(b.size()) {
    if (size != 0) std::memcpy(data.get(), b.data(), size);
  }
  std::span<const std::byte> span() const { return {data.get(), size}; }
  std::unique_ptr<std::byte[]> data;
  std::size_t size;
};

// A random body size, and head counts that mostly almost fit it.
template <class Head>
Bytes random_payload(std::mt19937_64& rng, Head head) {
  Bytes b = random_bytes(rng, rng() % (sizeof(Head) + 700));
  if (b.size() >= sizeof(Head)) std::memcpy(b.data(), &head, sizeof head);
  return b;
}

uint32_t near(std::mt19937_64& rng, uint64_t fit) {
  switch (rng() % 5) {
    case 0:
      return static_cast<uint32_t>(rng());
    case 1:
      return UINT32_MAX - static_cast<uint32_t>(rng() % 3);
    default:
      return static_cast<uint32_t>(fit + rng() % 3 - 1);  // fit - 1 .. fit + 1
  }
}

TEST(IpcFuzz, ReadListAcceptsOnlyAnExactSize) {
  std::mt19937_64 rng(7);
  int accepted = 0;
  int rejected = 0;
  for (int i = 0; i < 10000; ++i) {
    // Choose counts around a random size, then maybe pad or cut it.
    const uint64_t np = rng() % 6;
    const uint64_t nq = rng() % 6;
    ListHead h{near(rng, np), near(rng, nq), 0, 0};
    Bytes b = random_bytes(rng, sizeof(ListHead) + np * sizeof(ProcessRecord) + nq * sizeof(QueueRecord));
    if (rng() % 4 == 0) b.resize(rng() % (b.size() + 50));
    if (b.size() >= sizeof(ListHead)) std::memcpy(b.data(), &h, sizeof h);
    if (rng() % 10 == 0) b = random_payload(rng, h);
    const ExactBuffer buf(b);
    ListHead head{};
    std::vector<ProcessRecord> procs;
    std::vector<QueueRecord> queues;
    const bool ok = read_list(buf.span(), &head, &procs, &queues);
    const bool fits = b.size() >= sizeof(ListHead) &&
                      b.size() - sizeof(ListHead) == uint64_t{h.processes} * sizeof(ProcessRecord) +
                                                         uint64_t{h.queues} * sizeof(QueueRecord);
    ASSERT_EQ(ok, fits) << "iteration " << i << ": " << b.size() << " bytes, " << h.processes << " processes, "
                        << h.queues << " queues";
    if (!ok) {
      ++rejected;
      continue;
    }
    ++accepted;
    ASSERT_EQ(procs.size(), h.processes);
    ASSERT_EQ(queues.size(), h.queues);
    const std::byte* p = b.data() + sizeof(ListHead);
    if (!procs.empty()) {
      ASSERT_EQ(std::memcmp(procs.data(), p, procs.size() * sizeof(ProcessRecord)), 0);
    }
    p += procs.size() * sizeof(ProcessRecord);
    if (!queues.empty()) {
      ASSERT_EQ(std::memcmp(queues.data(), p, queues.size() * sizeof(QueueRecord)), 0);
    }
  }
  // Both answers were exercised.
  EXPECT_GT(accepted, 100);
  EXPECT_GT(rejected, 100);
}

TEST(IpcFuzz, ReadRecordsAcceptsOnlyAnExactSize) {
  std::mt19937_64 rng(11);
  int accepted = 0;
  int rejected = 0;
  for (int i = 0; i < 10000; ++i) {
    const uint64_t n = rng() % 10;
    Bytes b = random_bytes(rng, sizeof(SamplesHead) + n * sizeof(Sample));
    if (rng() % 4 == 0) b.resize(rng() % (b.size() + 50));
    const SamplesHead h{near(rng, n), 0};
    if (b.size() >= sizeof(SamplesHead)) std::memcpy(b.data(), &h, sizeof h);
    const ExactBuffer buf(b);
    SamplesHead head{};
    std::vector<Sample> got;
    const bool ok = read_records(buf.span(), &head, &got, sample_count);
    const bool fits = b.size() >= sizeof(SamplesHead) && b.size() - sizeof(SamplesHead) == uint64_t{h.count} * sizeof(Sample);
    ASSERT_EQ(ok, fits) << "iteration " << i << ": " << b.size() << " bytes, count " << h.count;
    if (!ok) {
      ++rejected;
      continue;
    }
    ++accepted;
    ASSERT_EQ(got.size(), h.count);
    if (!got.empty()) {
      ASSERT_EQ(std::memcmp(got.data(), b.data() + sizeof(SamplesHead), got.size() * sizeof(Sample)), 0);
    }
  }
  EXPECT_GT(accepted, 100);
  EXPECT_GT(rejected, 100);
}

TEST(IpcFuzz, ReadRecordsWithA64BitCountNeverTrustsAWrappingCount) {
  std::mt19937_64 rng(13);
  for (int i = 0; i < 10000; ++i) {
    const uint64_t n = rng() % 10;
    Bytes b = random_bytes(rng, sizeof(WideHead) + n * sizeof(Sample));
    // Counts that wrap n * 24 back to n records' bytes, and random ones.
    const uint64_t wraps = n + (uint64_t{1} << 61) * (1 + rng() % 7);
    const uint64_t candidates[] = {n, wraps, rng(), n + 1, UINT64_MAX};
    const WideHead h{candidates[rng() % std::size(candidates)]};
    std::memcpy(b.data(), &h, sizeof h);
    const ExactBuffer buf(b);
    WideHead head{};
    std::vector<Sample> got;
    const bool ok = read_records(buf.span(), &head, &got, wide_count);
    ASSERT_EQ(ok, h.count == n) << "iteration " << i << ": count " << h.count << " for " << n << " records";
    if (ok) {
      ASSERT_EQ(got.size(), n);
    }
  }
}

}  // namespace
}  // namespace xsched::ipc
