/*
 * fuzz_xml.c - libFuzzer harness for the XML request decoder
 * (src/cimi/codec_xml.c), with validation and both encoders behind it.
 * The input is a request body; see fuzz_codec.h for what is done with it.
 * libxml2 is set up exactly as in the daemon (the decoder does it itself).
 */
#include "fuzz_codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_codec_one(&codec_xml, data, size);
    return 0;
}
