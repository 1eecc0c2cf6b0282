#include <catch2/catch.hpp>

#include "common/common.h"

using namespace sw;

TEST_CASE("hex round trip and strictness") {
  Bytes b{0x00, 0xab, 0xff};
  CHECK(hex_encode(b) == "00abff");
  CHECK(hex_decode("00ABff").value() == b);
  CHECK_FALSE(hex_decode("0"));
  CHECK_FALSE(hex_decode("zz"));
  CHECK_FALSE(hex_decode_fixed("00ab", 3));
}

TEST_CASE("base64 standard and url, padded and not") {
  CHECK(base64_encode(to_bytes("foobar")) == "Zm9vYmFy");
  CHECK(base64_encode(to_bytes("fo")) == "Zm8=");
  CHECK(base64_encode(to_bytes("f"), false, false) == "Zg");
  CHECK(base64_encode(Bytes{0xfb, 0xff}, true, false) == "-_8");
  CHECK(to_string(*base64_decode("Zm8=")) == "fo");
  CHECK(to_string(*base64_decode("Zm8")) == "fo");
  CHECK(*base64_decode("-_8") == Bytes{0xfb, 0xff});
  CHECK(*base64_decode("+/8=") == Bytes{0xfb, 0xff});
  CHECK_FALSE(base64_decode("Zm9=x"));
  CHECK_FALSE(base64_decode("Z"));
  CHECK_FALSE(base64_decode("Zh=="));  // non-canonical trailing bits
}

TEST_CASE("msat to sat rounds up") {
  CHECK(msat_to_sat_ceil(0) == 0);
  CHECK(msat_to_sat_ceil(1) == 1);
  CHECK(msat_to_sat_ceil(1000) == 1);
  CHECK(msat_to_sat_ceil(1001) == 2);
}

TEST_CASE("trim and log levels") {
  CHECK(trim("  a b \n") == "a b");
  CHECK(parse_log_level("warning") == LogLevel::warning);
  CHECK_FALSE(parse_log_level("verbose"));
}

TEST_CASE("form-urlencoded decoding: strict and lenient, and one parameter out of many") {
  CHECK(*form_urldecode("a+b%20c%2Bd", true) == "a b c+d");
  CHECK(*form_urldecode("%e2%82%ac", true) == "\xe2\x82\xac");
  CHECK_FALSE(form_urldecode("bad%zz", true));
  CHECK_FALSE(form_urldecode("cut%4", true));
  CHECK_FALSE(form_urldecode("%", true));
  CHECK(*form_urldecode("bad%zz", false) == "bad%zz");  // lenient: passed through as written
  CHECK(*form_urldecode("cut%4", false) == "cut%4");
  CHECK(*form_urldecode("end%41", false) == "endA");
  CHECK(form_param("token=a%2Bb_-c&reason=not+today", "token") == "a+b_-c");
  CHECK(form_param("token=a%2Bb_-c&reason=not+today", "reason") == "not today");
  CHECK(form_param("x=1&token=", "token").empty());
  CHECK(form_param("flag&x=2", "flag").empty());
  CHECK(form_param("x=2", "missing").empty());
  CHECK(form_param("a%3Db=1&a=2", "a=b") == "1");  // names are decoded too
  CHECK(form_param("t=1&t=2", "t") == "1");        // the first one
  CHECK(form_param("", "t").empty());
}
