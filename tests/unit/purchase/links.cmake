# The purchase engine with everything it drives (payer, ledger, challenges, macaroons); libsecp256k1 for the
# test-side invoice signer in helpers.h.
set(SW_TEST_EXTRA_LINKS sw_purchase sw_pay sw_spend sw_challenge sw_macaroon sw_bolt11 sw_crypto PkgConfig::SECP256K1)
