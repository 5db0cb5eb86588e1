#!/usr/bin/python3
"""Generate a synthetic code-mapping table (对码表) in the format of
mappings/yibao_map.h:

    kind  scope  local_code  national_code  national_name

The table has exactly N rows of every kind (drug, item, consumable,
diagnosis, operation, chronic, staff, dept, dict:<name>), with national
codes of the national shapes and lengths, Chinese names of realistic
lengths, and a mix of scopes: mostly global ("*") and per contracting
entity ("entity:H..."), some per clinic ("clinic:<22-char org code>")
and per region ("admdvs:37", "admdvs:3701", "admdvs:370102").  Local
codes look like clinics' own (YP000123, ZL000045, ...): within a scope
they are numbered from 1, so a scoped row overrides the global row with
the same local code, as a township's own table does.

All values are invented and only shaped like real ones; the same --seed
and -n always give the same file.

    tools/gen-mappings.py -n 1000000 --seed 1 -o build/bench/mappings.tsv
"""

import argparse
import random
import string
import sys

ORG_CHARS = string.digits + string.ascii_uppercase
UPPER = string.ascii_uppercase

# (kind, weight, local code prefix, digits of the local number)
KINDS = (
    ("drug", 44, "YP", 6),
    ("item", 24, "ZL", 6),
    ("consumable", 14, "HC", 6),
    ("diagnosis", 9, "ZD", 6),
    ("operation", 2, "SS", 5),
    ("chronic", 1, "MB", 4),
    ("staff", 4, "D", 4),
    ("dept", 1, "KS", 3),
    ("dict", 1, "", 0),
)

# (scope type, weight)
SCOPES = (("*", 64), ("entity", 28), ("clinic", 4), ("admdvs", 4))

DICTS = {
    "psn_cert_type": ["01", "02", "03", "04", "05", "06", "07", "08",
                      "09", "10", "11", "12", "13", "14", "15", "90",
                      "99"],
    "mdtrt_cert_type": ["01", "02", "03"],
    "insutype": ["310", "320", "330", "340", "390", "392", "510"],
    "med_type": ["11", "12", "13", "14", "18", "41", "51", "99"],
    "psn_setlway": ["01", "02"],
    "gend": ["0", "1", "2", "9"],
}

DRUGS = (
    "阿莫西林", "头孢克肟", "头孢呋辛酯", "阿奇霉素", "左氧氟沙星", "布洛芬",
    "对乙酰氨基酚", "硝苯地平", "苯磺酸氨氯地平", "厄贝沙坦", "缬沙坦",
    "二甲双胍", "格列美脲", "阿卡波糖", "辛伐他汀", "阿托伐他汀钙",
    "奥美拉唑", "雷贝拉唑钠", "多潘立酮", "蒙脱石", "氯雷他定", "西替利嗪",
    "复方甘草", "氨溴索", "板蓝根", "连花清瘟", "银黄", "藿香正气",
    "六味地黄", "复方丹参", "阿司匹林肠溶", "甲硝唑", "维生素B6",
    "葡萄糖", "氯化钠", "地塞米松磷酸钠", "利巴韦林", "双黄连",
)
FORMS = ("片", "胶囊", "颗粒", "注射液", "口服液", "缓释片", "分散片",
         "软胶囊", "滴丸", "丸", "糖浆", "气雾剂")
SPECS = {
    "片": ("0.5g*12片", "10mg*7片", "0.1g*30片", "5mg*28片"),
    "胶囊": ("0.25g*24粒", "20mg*14粒", "0.5g*12粒"),
    "颗粒": ("10g*10袋", "1g*6袋", "5g*12袋"),
    "注射液": ("5ml:10mg", "250ml:2.25g", "2ml:0.1g", "100ml:0.9g"),
    "口服液": ("10ml*6支", "10ml*10支"),
    "缓释片": ("30mg*7片", "0.5g*30片"),
    "分散片": ("0.125g*12片", "0.25g*6片"),
    "软胶囊": ("0.3g*24粒",),
    "滴丸": ("27mg*180丸",),
    "丸": ("6g*10袋",),
    "糖浆": ("100ml", "120ml"),
    "气雾剂": ("14g",),
}
ITEMS = (
    "诊查费", "一般诊疗费", "注射费", "静脉输液", "肌肉注射", "皮下注射",
    "静脉采血", "换药", "清创缝合术", "血常规检查", "尿常规检查",
    "血糖测定", "心电图检查", "胸部X线摄影", "B超常规检查", "针灸",
    "推拿治疗", "拔罐", "中医辨证论治", "雾化吸入", "吸氧", "导尿",
    "灌肠", "鼻饲管置管", "血压监测", "伤口拆线", "耳穴压豆",
)
CONSUMABLES = (
    "一次性使用无菌注射器", "一次性使用输液器", "一次性使用静脉输液针",
    "医用脱脂纱布", "医用棉签", "医用胶带", "一次性使用换药包",
    "一次性使用导尿包", "一次性使用吸氧管", "医用外科口罩",
    "一次性使用采血针", "输液贴", "医用弹性绷带", "无菌敷贴",
)
CONS_SPECS = ("1ml", "2ml", "5ml", "10ml", "20ml", "0.45mm", "0.7mm",
              "8cm*10cm", "10cm*600cm", "小号", "中号", "大号")
DIAGNOSES = (
    ("I10", "高血压"), ("E11", "2型糖尿病"), ("J18", "肺部感染"),
    ("J06", "急性上呼吸道感染"), ("K29", "胃炎"), ("J20", "急性支气管炎"),
    ("J02", "急性咽炎"), ("M54", "腰痛"), ("I25", "冠状动脉粥样硬化性心脏病"),
    ("I63", "脑梗死"), ("K59", "便秘"), ("N39", "泌尿道感染"),
    ("L30", "皮炎"), ("R51", "头痛"), ("A09", "感染性腹泻"),
    ("J44", "慢性阻塞性肺疾病"), ("M17", "膝关节骨性关节病"),
    ("E78", "高脂血症"), ("H10", "结膜炎"), ("K21", "胃食管反流病"),
)
DIAG_QUALIFIERS = ("", "伴并发症", "急性发作", "慢性", "待查", "未特指")
OPERATIONS = (
    "清创缝合术", "皮肤病损切除术", "脓肿切开引流术", "阑尾切除术",
    "拔牙术", "鼻出血填塞术", "包皮环切术", "胆囊切除术",
)
CHRONIC = (
    "高血压", "糖尿病", "慢性阻塞性肺疾病", "冠心病", "脑血管病后遗症",
    "慢性肾功能衰竭", "类风湿关节炎", "帕金森病", "精神分裂症",
)
DEPTS = (
    ("A01", "预防保健科"), ("A02", "全科医疗科"), ("A03", "内科"),
    ("A03.01", "呼吸内科"), ("A03.03", "消化内科"), ("A03.05", "心血管内科"),
    ("A04", "外科"), ("A05", "妇产科"), ("A07", "儿科"), ("A10", "眼科"),
    ("A12", "口腔科"), ("A15", "急诊医学科"), ("A50", "中医科"),
)
SURNAMES = "王李张刘陈杨赵黄周吴徐孙马朱胡郭何林高罗郑梁谢宋唐许韩冯邓曹彭曾"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华建国红梅"
DICT_NAMES = {
    "psn_cert_type": "居民身份证", "mdtrt_cert_type": "医保电子凭证",
    "insutype": "职工基本医疗保险", "med_type": "普通门诊",
    "psn_setlway": "按项目结算", "gend": "男",
}


class Generator:
    def __init__(self, rng, province):
        self.rng = rng
        self.province = province
        self.counties = ["%s%02d%02d" % (province, city, county)
                         for city in range(1, 8)
                         for county in range(2, 8)]
        self.entities = []
        for i in range(300):
            admdvs = rng.choice(self.counties)
            self.entities.append((admdvs, "H%s%05d" % (admdvs, i + 1)))
        self.clinics = []
        seen = set()
        while len(self.clinics) < 600:
            code = "PDY" + "".join(rng.choice(ORG_CHARS) for _ in range(19))
            if code not in seen:
                seen.add(code)
                self.clinics.append(code)
        self.seq = {}
        self.dict_seq = {}

    def scope(self, kind=None):
        rng = self.rng
        if kind is None:
            kind = rng.choices([s for s, _ in SCOPES],
                               [w for _, w in SCOPES])[0]
        if kind == "*":
            return "*", self.province + "0102"
        if kind == "entity":
            admdvs, code = rng.choice(self.entities)
            return "entity:" + code, admdvs
        if kind == "clinic":
            return "clinic:" + rng.choice(self.clinics), \
                rng.choice(self.counties)
        county = rng.choice(self.counties)
        return "admdvs:" + county[:rng.choice((2, 4, 6))], county

    def local(self, kind, prefix, digits, scope):
        key = (kind, scope)
        n = self.seq.get(key, 0) + 1
        self.seq[key] = n
        width = max(digits, len(str(n)))
        return "%s%0*d" % (prefix, width, n)

    def drug(self):
        rng = self.rng
        form = rng.choice(FORMS)
        name = rng.choice(DRUGS) + form
        if rng.random() < 0.6:
            name += "(" + rng.choice(SPECS[form]) + ")"
        if rng.random() < 0.1:
            return "T%09d" % rng.randrange(10 ** 9), name
        atc = (rng.choice(UPPER) + "%02d" % rng.randrange(100)
               + rng.choice(UPPER) + rng.choice(UPPER))
        code = (rng.choice("XZ") + atc + rng.choice(UPPER)
                + "%03d" % rng.randrange(1000) + rng.choice(UPPER)
                + "%03d" % rng.randrange(1000)
                + "%09d" % rng.randrange(10 ** 9))
        return code, name

    def item(self):
        rng = self.rng
        code = "00%09d%04d" % (rng.randrange(10 ** 9), rng.randrange(10000))
        if rng.random() < 0.15:
            code += "-%09d" % rng.randrange(10 ** 9)
        return code, rng.choice(ITEMS)

    def consumable(self):
        rng = self.rng
        code = "C%019d" % rng.randrange(10 ** 19)
        return code, rng.choice(CONSUMABLES) + " " + rng.choice(CONS_SPECS)

    def diagnosis(self):
        rng = self.rng
        head, name = rng.choice(DIAGNOSES)
        tail = rng.choice(("x00", "900", "000", "100", "%03d" %
                           rng.randrange(1000)))
        code = head + "." + tail
        if rng.random() < 0.2:
            code += "x%03d" % rng.randrange(1000)
        return code, name + rng.choice(DIAG_QUALIFIERS)

    def operation(self):
        rng = self.rng
        code = "%02d.%04d" % (rng.randrange(100), rng.randrange(10000))
        return code, rng.choice(OPERATIONS)

    def chronic(self):
        rng = self.rng
        return "M%05d" % rng.randrange(100000), rng.choice(CHRONIC)

    def staff(self, admdvs):
        rng = self.rng
        name = rng.choice(SURNAMES) + "".join(
            rng.choice(GIVEN) for _ in range(rng.choice((1, 2))))
        prefix = rng.choices(("D", "N", "Y", "HY"), (70, 20, 7, 3))[0]
        return "%s%s%06d" % (prefix, admdvs, rng.randrange(10 ** 6)), name

    def dept(self):
        return self.rng.choice(DEPTS)

    def row(self):
        rng = self.rng
        kind, _, prefix, digits = rng.choices(
            KINDS, [k[1] for k in KINDS])[0]
        # a doctor's local id belongs to the entity's own system
        scope, admdvs = self.scope("entity" if kind == "staff" else None)

        if kind == "dict":
            name = rng.choice(sorted(DICTS))
            values = DICTS[name]
            key = (name, scope)
            i = self.dict_seq.get(key, 0)
            if i >= len(values):
                kind = "drug"
                prefix, digits = "YP", 6
            else:
                self.dict_seq[key] = i + 1
                national = values[i]
                local = str(int(national)) if national.isdigit() else national
                if local == national:
                    local = "L" + national
                return ("dict:" + name, scope, local, national,
                        DICT_NAMES[name])

        local = self.local(kind, prefix, digits, scope)
        if kind == "staff":
            national, name = self.staff(admdvs)
        else:
            national, name = getattr(self, kind)()
        return kind, scope, local, national, name


def main():
    parser = argparse.ArgumentParser(
        description="Write a synthetic code-mapping table (TSV).")
    parser.add_argument("-n", "--rows", type=int, default=1000000,
                        help="number of rows (default 1000000)")
    parser.add_argument("--seed", type=int, default=1,
                        help="random seed (default 1)")
    parser.add_argument("--province", default="37",
                        help="2-digit province code (default 37)")
    parser.add_argument("-o", "--out", default="-",
                        help="output file (default: standard output)")
    args = parser.parse_args()

    if args.rows < 0:
        parser.error("--rows must not be negative")
    if len(args.province) != 2 or not args.province.isdigit():
        parser.error("--province must be 2 digits")

    rng = random.Random(args.seed)
    gen = Generator(rng, args.province)

    out = sys.stdout if args.out == "-" else open(args.out, "w",
                                                  encoding="utf-8",
                                                  newline="\n")
    try:
        out.write("# synthetic mapping table: tools/gen-mappings.py "
                  "-n %d --seed %d\n" % (args.rows, args.seed))
        out.write("# kind\tscope\tlocal_code\tnational_code\t"
                  "national_name\n")
        buf = []
        for _ in range(args.rows):
            buf.append("\t".join(gen.row()))
            if len(buf) == 10000:
                out.write("\n".join(buf) + "\n")
                buf = []
        if buf:
            out.write("\n".join(buf) + "\n")
    finally:
        if out is not sys.stdout:
            out.close()


if __name__ == "__main__":
    main()
