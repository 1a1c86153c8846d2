/*
 * fuzz_json.c - libFuzzer harness for the JSON request decoder
 * (src/cimi/codec_json.c), with validation and both encoders behind it.
 * The input is a request body; see fuzz_codec.h for what is done with it.
 */
#include "fuzz_codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_codec_one(&codec_json, data, size);
    return 0;
}
