// Runs an exported .param/.bin pair on one image with the ncnn library it is linked against (CPU, float32).
// usage: run_ncnn MODEL.param MODEL.bin INPUT.f32 C H W OUTPUT.f32
// INPUT.f32: C*H*W float32 values, channels first; OUTPUT.f32: three int32 (c, h, w), then the values.
#include <cstdio>
#include <cstdlib>

#include "net.h"

int main(int argc, char** argv)
{
    if (argc != 8)
    {
        fprintf(stderr, "usage: %s MODEL.param MODEL.bin INPUT.f32 C H W OUTPUT.f32\n", argv[0]);
        return 1;
    }
    ncnn::Net net;
    net.opt.use_vulkan_compute = false;
    net.opt.use_fp16_storage = false;
    net.opt.use_fp16_packed = false;
    net.opt.use_fp16_arithmetic = false;
    if (net.load_param(argv[1]) != 0 || net.load_model(argv[2]) != 0)
        return 2;
    const int c = atoi(argv[4]), h = atoi(argv[5]), w = atoi(argv[6]);
    ncnn::Mat in(w, h, c);
    FILE* fin = fopen(argv[3], "rb");
    if (!fin)
        return 3;
    for (int q = 0; q < c; q++)
    {
        if (fread(in.channel(q), sizeof(float), (size_t)w * h, fin) != (size_t)w * h)
            return 3;
    }
    fclose(fin);
    ncnn::Extractor ex = net.create_extractor();
    ex.input("data", in);
    ncnn::Mat out;
    if (ex.extract("output", out) != 0)
        return 4;
    FILE* fout = fopen(argv[7], "wb");
    const int shape[3] = {out.c, out.h, out.w};
    fwrite(shape, sizeof(int), 3, fout);
    for (int q = 0; q < out.c; q++)
        fwrite(out.channel(q), sizeof(float), (size_t)out.w * out.h, fout);
    fclose(fout);
    return 0;
}
