#pragma once
// One head parsed by the production parser, kept alive with it (the head's views point
// into the parser), for the serializer and intermediary tests.
#include <gtest/gtest.h>

#include <string>

#include "proxy/http1/parser.h"

namespace sidemeter::http {

class ParsedHead : public MessageSink {
 public:
  // A head the test means to be valid (a parse error fails the test), or any input with
  // `expect_valid` false (then ok() tells).
  ParsedHead(MessageKind kind, const std::string& raw, Method request_method = Method::kGet,
             ParserLimits limits = {}, bool expect_valid = true)
      : raw_(raw), parser_(kind, limits, *this) {
    parser_.set_request_method(request_method);
    ok_ = parser_.feed(raw_).status != FeedStatus::kError && head_ != nullptr;
    if (expect_valid) {
      EXPECT_TRUE(ok_) << parse_error_info(parser_.error()).reason << " in:\n" << raw_;
    }
  }
  bool ok() const { return ok_; }
  const MessageHead& head() const { return *head_; }

  SinkAction on_head(const MessageHead& h) override {
    head_ = &h;
    return SinkAction::kPause;
  }
  SinkAction on_body(std::string_view) override { return SinkAction::kContinue; }
  SinkAction on_message_complete() override { return SinkAction::kContinue; }

 private:
  std::string raw_;
  Parser parser_;
  const MessageHead* head_ = nullptr;
  bool ok_ = false;
};

}  // namespace sidemeter::http
