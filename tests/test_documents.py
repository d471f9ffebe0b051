"""Document references (``sadec_crawler.documents``): a hand-checked table of how Sa Đéc's
news cites decisions, plans, resolutions and letters, with precision and recall over it.

Each row is text as the portal's articles and attachment titles write it, and the references
a reader finds in it: (kind, symbol, year). Written and checked by hand from the forms seen in
the replica's corpus and in public administrative texts; the negative rows are what looks
like a symbol and is not (dates, fractions, addresses, scores).
"""

from __future__ import annotations

import pytest

from sadec_crawler.documents import find_document_refs, symbol_key
from tests.reliability import record

QD, KH, NQ, CV, TB = "Quyết định", "Kế hoạch", "Nghị quyết", "Công văn", "Thông báo"
CT, ND, TT, BC, HD = "Chỉ thị", "Nghị định", "Thông tư", "Báo cáo", "Hướng dẫn"
TTR, CD, QC, LUAT, DA = "Tờ trình", "Công điện", "Quy chế", "Luật", "Đề án"

TABLE = [
    (
        "Thực hiện Quyết định số 313/QĐ-UBND-HC ngày 19/3/2021 của UBND thành phố Sa Đéc.",
        [(QD, "313/QĐ-UBND-HC", 2021)],
    ),
    (
        "Theo Kế hoạch số 12/KH-UBND ngày 15/01/2021 về cải cách hành chính.",
        [(KH, "12/KH-UBND", 2021)],
    ),
    (
        "Nghị quyết số 05/2021/NQ-HĐND của Hội đồng nhân dân thành phố.",
        [(NQ, "05/2021/NQ-HĐND", 2021)],
    ),
    (
        "Công văn số 812/UBND-VP ngày 5 tháng 6 năm 2020 về việc tăng cường phòng dịch.",
        [(CV, "812/UBND-VP", 2020)],
    ),
    ("Thông báo số 97/TB-UBND về lịch tiếp công dân tháng 10/2021.", [(TB, "97/TB-UBND", None)]),
    (
        "Quyết định số 1025/QĐ-UBND ngày 02/8/2019 và Quyết định số 356/QĐ-UBND ngày 12/3/2020.",
        [(QD, "1025/QĐ-UBND", 2019), (QD, "356/QĐ-UBND", 2020)],
    ),
    (
        "Căn cứ Kế hoạch số 45/KH-UBND ngày 20/02/2021 của UBND tỉnh Đồng Tháp.",
        [(KH, "45/KH-UBND", 2021)],
    ),
    ("Chỉ thị số 15/CT-TTg ngày 27/3/2020 của Thủ tướng Chính phủ.", [(CT, "15/CT-TTg", 2020)]),
    (
        "Chỉ thị số 16/CT-TTg và Chỉ thị số 19/CT-TTg về giãn cách xã hội.",
        [(CT, "16/CT-TTg", None), (CT, "19/CT-TTg", None)],
    ),
    (
        "Nghị định số 61/2018/NĐ-CP về thực hiện cơ chế một cửa, một cửa liên thông.",
        [(ND, "61/2018/NĐ-CP", 2018)],
    ),
    (
        "Thông tư số 01/2018/TT-VPCP hướng dẫn thi hành Nghị định số 61/2018/NĐ-CP.",
        [(TT, "01/2018/TT-VPCP", 2018), (ND, "61/2018/NĐ-CP", 2018)],
    ),
    (
        "Báo cáo số 245/BC-UBND ngày 30/11/2021 về kết quả thực hiện nhiệm vụ năm 2021.",
        [(BC, "245/BC-UBND", 2021)],
    ),
    ("Hướng dẫn số 08/HD-SNV của Sở Nội vụ.", [(HD, "08/HD-SNV", None)]),
    (
        "Tờ trình số 15/TTr-UBND ngày 10/5/2022 đề nghị thông qua đề án.",
        [(TTR, "15/TTr-UBND", 2022)],
    ),
    ("Công điện số 01/CĐ-UBND ngày 02/01/2022 về phòng, chống dịch.", [(CD, "01/CĐ-UBND", 2022)]),
    ("Quy chế số 02/QC-UBND phối hợp giữa các phòng, ban.", [(QC, "02/QC-UBND", None)]),
    ("Luật số 22/2018/QH14 về Luật Tố cáo.", [(LUAT, "22/2018/QH14", 2018)]),
    ("Đề án số 03/ĐA-UBND về phát triển làng hoa Sa Đéc.", [(DA, "03/ĐA-UBND", None)]),
    (
        "Nghị quyết số 18-NQ/TW ngày 25/10/2017 của Ban Chấp hành Trung ương.",
        [(NQ, "18-NQ/TW", 2017)],
    ),
    (
        "Kết luận số 01-KL/TW và Chỉ thị số 05-CT/TU của Tỉnh ủy.",
        [("Kết luận", "01-KL/TW", None), (CT, "05-CT/TU", None)],
    ),
    ("theo quyết định số 120/QĐ-UBND của UBND phường 1.", [(QD, "120/QĐ-UBND", None)]),
    ("Ban hành kèm theo Quyết định 2145/QĐ-UBND ngày 28/12/2020.", [(QD, "2145/QĐ-UBND", 2020)]),
    ("Kế hoạch 77/KH-UBND ngày 9/4/2021 triển khai tháng hành động.", [(KH, "77/KH-UBND", 2021)]),
    (
        "Thực hiện Công văn số 1345/UBND-KT ngày 14/7/2021 của UBND tỉnh.",
        [(CV, "1345/UBND-KT", 2021)],
    ),
    ("Công văn số 56/PNV-TCCB của Phòng Nội vụ.", [(CV, "56/PNV-TCCB", None)]),
    (
        "Thông báo số 12/TB-VP ngày 4/1/2022 kết luận của Chủ tịch UBND thành phố.",
        [(TB, "12/TB-VP", 2022)],
    ),
    (
        "Quyết định số 5/QĐ-UBND và Quyết định số 6/QĐ-UBND ngày 05/01/2021.",
        [(QD, "5/QĐ-UBND", None), (QD, "6/QĐ-UBND", 2021)],
    ),
    ("Quyết định số 1500a/QĐ-UBND về việc phê duyệt danh sách.", [(QD, "1500a/QĐ-UBND", None)]),
    (
        "Kế hoạch số 30/KH-BCĐ của Ban Chỉ đạo phòng, chống dịch thành phố.",
        [(KH, "30/KH-BCĐ", None)],
    ),
    (
        "Nghị quyết số 12/NQ-HĐND ngày 18/12/2020 về kế hoạch đầu tư công.",
        [(NQ, "12/NQ-HĐND", 2020)],
    ),
    ("Theo số 45/KH-UBND của thành phố, các phường triển khai.", [(KH, "45/KH-UBND", None)]),
    ("Văn bản số 210/UBND-VX ngày 3/3/2021 gửi các đơn vị.", [(CV, "210/UBND-VX", 2021)]),
    ("đính kèm số 88/QĐ-UBND ngày 20/01/2021.", [(QD, "88/QĐ-UBND", 2021)]),
    (
        "Quyết định số 3321/QĐ-UBND-NĐ ngày 15/11/2021 của UBND tỉnh Đồng Tháp.",
        [(QD, "3321/QĐ-UBND-NĐ", 2021)],
    ),
    (
        "Kế hoạch số 180/KH-UBND ngày 21 tháng 9 năm 2021 về tổ chức lễ hội.",
        [(KH, "180/KH-UBND", 2021)],
    ),
    (
        "Thông tư số 32/2020/TT-BGDĐT ban hành Điều lệ trường trung học.",
        [(TT, "32/2020/TT-BGDĐT", 2020)],
    ),
    (
        "Nghị định số 34/2016/NĐ-CP và Nghị định số 154/2020/NĐ-CP.",
        [(ND, "34/2016/NĐ-CP", 2016), (ND, "154/2020/NĐ-CP", 2020)],
    ),
    (
        "Quyết định số 22/2021/QĐ-UBND ngày 09/9/2021 ban hành quy định.",
        [(QD, "22/2021/QĐ-UBND", 2021)],
    ),
    ("Chỉ thị số 05/CT-UBND ngày 22/02/2022 về tăng cường kỷ cương.", [(CT, "05/CT-UBND", 2022)]),
    (
        "Báo cáo 112/BC-UBND về tình hình kinh tế - xã hội 6 tháng đầu năm.",
        [(BC, "112/BC-UBND", None)],
    ),
    ("Hướng dẫn số 25/HD-LĐLĐ ngày 6/5/2021 của Liên đoàn Lao động.", [(HD, "25/HD-LĐLĐ", 2021)]),
    (
        "Kế hoạch số 145/KH-UBND, Kế hoạch số 146/KH-UBND và Kế hoạch số 147/KH-UBND.",
        [(KH, "145/KH-UBND", None), (KH, "146/KH-UBND", None), (KH, "147/KH-UBND", None)],
    ),
    ("Quyết định số: 415/QĐ-UBND ngày 30/3/2021 về công nhận.", [(QD, "415/QĐ-UBND", 2021)]),
    ("QUYẾT ĐỊNH SỐ 27/QĐ-UBND VỀ VIỆC THÀNH LẬP TỔ CÔNG TÁC", [(QD, "27/QĐ-UBND", None)]),
    (
        "Thông báo số 03/TB-BTC ngày 10/01/2023 của Ban Tổ chức lễ hội hoa.",
        [(TB, "03/TB-BTC", 2023)],
    ),
    ("Công văn số 1024/SYT-NVY của Sở Y tế.", [(CV, "1024/SYT-NVY", None)]),
    ("Nghị quyết số 68/NQ-CP ngày 01/7/2021 của Chính phủ.", [(NQ, "68/NQ-CP", 2021)]),
    (
        "Quyết định số 23/2021/QĐ-TTg ngày 07/7/2021 của Thủ tướng Chính phủ.",
        [(QD, "23/2021/QĐ-TTg", 2021)],
    ),
    ("Quyết định số 1245/QĐ-UBND.HC ngày 12/10/2020.", [(QD, "1245/QĐ-UBND.HC", 2020)]),
    ("Quyết định số 1246/QĐ-UBND. Sau đó, UBND thành phố chỉ đạo.", [(QD, "1246/QĐ-UBND", None)]),
    ("Tờ trình số 98/TTr-PTCKH về dự toán ngân sách.", [(TTR, "98/TTr-PTCKH", None)]),
    (
        "Kế hoạch số 62/KH-UBND ngày 31/3/2021 và Công văn số 455/UBND-TH ngày 1/4/2021.",
        [(KH, "62/KH-UBND", 2021), (CV, "455/UBND-TH", 2021)],
    ),
    ("Thực hiện Thông báo kết luận số 135/TB-VPUBND.", [(TB, "135/TB-VPUBND", None)]),
    ("Quyết định số 980/QĐ-UBND (đính kèm).", [(QD, "980/QĐ-UBND", None)]),
    (
        "Kế hoạch liên tịch số 01/KHLT-HND-UBND về hỗ trợ nông dân.",
        [(KH, "01/KHLT-HND-UBND", None)],
    ),
    ("Nghị quyết liên tịch số 09/2019/NQLT-MTTQ về giám sát.", [(NQ, "09/2019/NQLT-MTTQ", 2019)]),
    (
        "Chương trình số 04/CTr-UBND ngày 15/01/2022 công tác năm 2022.",
        [("Chương trình", "04/CTr-UBND", 2022)],
    ),
    ("Theo Quy định số 11/QyĐ-UBND về quản lý.", [("Quy định", "11/QyĐ-UBND", None)]),
    (
        "Công văn số 2215/UBND-HC ngày 26/10/2021; Công văn số 2290/UBND-HC ngày 02/11/2021.",
        [(CV, "2215/UBND-HC", 2021), (CV, "2290/UBND-HC", 2021)],
    ),
    ("Kế hoạch số 200/KH-UBND, ngày 12/12/2021.", [(KH, "200/KH-UBND", 2021)]),
    (
        "Quyết định số 1799/QĐ-UBND-HC ngày 28/9/2022 của UBND tỉnh phê duyệt quy hoạch.",
        [(QD, "1799/QĐ-UBND-HC", 2022)],
    ),
    ("Công điện số 05/CĐ-TTg ngày 25/4/2021.", [(CD, "05/CĐ-TTg", 2021)]),
    ("Báo cáo số 07/BC-ĐGS về kết quả giám sát.", [(BC, "07/BC-ĐGS", None)]),
    ("Hướng dẫn 03/HD-BTG của Ban Tuyên giáo Thành ủy.", [(HD, "03/HD-BTG", None)]),
    (
        "Nghị định 100/2019/NĐ-CP quy định xử phạt vi phạm hành chính giao thông.",
        [(ND, "100/2019/NĐ-CP", 2019)],
    ),
    ("Quyết định số 150/QĐ-PGDĐT của Phòng Giáo dục và Đào tạo.", [(QD, "150/QĐ-PGDĐT", None)]),
    (
        "Thông báo số 40/TB-HĐTD ngày 15/6/2021 về kết quả xét tuyển viên chức.",
        [(TB, "40/TB-HĐTD", 2021)],
    ),
    (
        "Kế hoạch số 99/KH-UBND ngày 19/5/2021 triển khai Nghị quyết số 37/NQ-HĐND.",
        [(KH, "99/KH-UBND", 2021), (NQ, "37/NQ-HĐND", None)],
    ),
    ("Công văn số 301/CAT-PC06 của Công an tỉnh.", [(CV, "301/CAT-PC06", None)]),
    (
        "Quyết định số 4/QĐ-BCĐ và số 7/QĐ-BCĐ của Ban Chỉ đạo.",
        [(QD, "4/QĐ-BCĐ", None), (QD, "7/QĐ-BCĐ", None)],
    ),
    (
        "Thông tư số 17/2020/TT-BYT và Thông tư số 18/2021/TT-BYT.",
        [(TT, "17/2020/TT-BYT", 2020), (TT, "18/2021/TT-BYT", 2021)],
    ),
    (
        "Chỉ thị số 01/CT-UBND ngày 06/01/2023 về nhiệm vụ trọng tâm năm 2023.",
        [(CT, "01/CT-UBND", 2023)],
    ),
    (
        "Nghị quyết số 202/2025/QH15 về sắp xếp đơn vị hành chính cấp tỉnh.",
        [(NQ, "202/2025/QH15", 2025)],
    ),
    ("Kế hoạch số 58/KH-UBND (sửa đổi) ngày 22/3/2022.", [(KH, "58/KH-UBND", 2022)]),
    (
        "Thực hiện các Quyết định số 601/QĐ-UBND, số 602/QĐ-UBND và số 603/QĐ-UBND.",
        [(QD, "601/QĐ-UBND", None), (QD, "602/QĐ-UBND", None), (QD, "603/QĐ-UBND", None)],
    ),
    (
        "Căn cứ Luật Tổ chức chính quyền địa phương năm 2015; Nghị định số 08/2016/NĐ-CP.",
        [(ND, "08/2016/NĐ-CP", 2016)],
    ),
    (
        "Quyết định số 1890/QĐ-UBND ngày 20/8/2021 về việc công bố thủ tục hành chính mới.",
        [(QD, "1890/QĐ-UBND", 2021)],
    ),
    (
        "Kế hoạch số 110/KH-UBND ngày 14/6/2022 tổ chức Ngày hội đọc sách.",
        [(KH, "110/KH-UBND", 2022)],
    ),
    (
        "Thông báo số 55/TB-UBND ngày 8/3/2022 về việc tuyển dụng công chức.",
        [(TB, "55/TB-UBND", 2022)],
    ),
    ("Công văn số 97/UBND-TCD về lịch tiếp công dân định kỳ.", [(CV, "97/UBND-TCD", None)]),
    (
        "Nghị quyết số 22/2021/NQ-HĐND ngày 9/12/2021 và Nghị quyết số 23/2021/NQ-HĐND.",
        [(NQ, "22/2021/NQ-HĐND", 2021), (NQ, "23/2021/NQ-HĐND", 2021)],
    ),
    (
        "Quyết định số 2500/QĐ-UBND ngày 31/12/2021 giao dự toán ngân sách năm 2022.",
        [(QD, "2500/QĐ-UBND", 2021)],
    ),
    (
        "Báo cáo số 301/BC-UBND ngày 05/12/2022 và Tờ trình số 170/TTr-UBND ngày 05/12/2022.",
        [(BC, "301/BC-UBND", 2022), (TTR, "170/TTr-UBND", 2022)],
    ),
    (
        "Thực hiện Hướng dẫn số 12/HD-SVHTTDL ngày 3/3/2020 của Sở Văn hóa.",
        [(HD, "12/HD-SVHTTDL", 2020)],
    ),
    (
        "Chỉ thị số 10/CT-UBND của UBND tỉnh Đồng Tháp về phòng cháy, chữa cháy.",
        [(CT, "10/CT-UBND", None)],
    ),
    ("Kế hoạch số 25/KH-BCĐ389 của Ban Chỉ đạo 389 thành phố.", [(KH, "25/KH-BCĐ389", None)]),
    (
        "Quyết định số 08/2022/QĐ-UBND ngày 14/3/2022 của UBND tỉnh.",
        [(QD, "08/2022/QĐ-UBND", 2022)],
    ),
    (
        "Công văn số 1530/SGDĐT-VP ngày 19/8/2021 của Sở Giáo dục và Đào tạo.",
        [(CV, "1530/SGDĐT-VP", 2021)],
    ),
    ("Theo Thông báo số 160/TB-UBND, lịch cắt điện được điều chỉnh.", [(TB, "160/TB-UBND", None)]),
    # Negative rows: no document here.
    ("Ngày 19/3/2021, Thành phố Sa Đéc tổ chức hội nghị.", []),
    ("Có 1/2 số hộ dân tham gia, tỷ lệ 3/4 đạt yêu cầu.", []),
    ("Địa chỉ: số 12/3 đường Hùng Vương, phường 1, thành phố Sa Đéc.", []),
    ("Điện thoại 0277.3861.567, hộp thư số 15.", []),
    ("Kết quả 2/3 trận thắng, tỷ số 2/1.", []),
    ("Quyết định đúng đắn của lãnh đạo trong năm 2021 giúp 80/100 hộ thoát nghèo.", []),
    ("Kế hoạch năm 2022 có 12/15 chỉ tiêu đạt và vượt.", []),
    ("Thông báo về việc nghỉ lễ 30/4 và 1/5.", []),
    ("Số 5/2021 của tạp chí Văn nghệ Đồng Tháp.", []),
    ("Công văn gửi lúc 7g30 ngày 2/9.", []),
    ("Theo số liệu 6/2021, thu ngân sách đạt 45/50 tỷ đồng.", []),
]


def _refs(text):
    return [(r.kind, r.symbol, r.year) for r in find_document_refs(text)]


@pytest.mark.parametrize(("text", "expected"), TABLE)
def test_each_row_of_the_table(text, expected):
    assert _refs(text) == expected


def test_precision_and_recall_over_the_table():
    """Goal ≥ 95% each (issue: legal documents referenced)."""
    expected = [(i, ref) for i, (_, refs) in enumerate(TABLE) for ref in refs]
    found = [(i, ref) for i, (text, _) in enumerate(TABLE) for ref in _refs(text)]
    correct = len(set(expected) & set(found))
    precision = correct / len(found)
    recall = correct / len(expected)
    record(
        "documents",
        scenario="document references: hand-checked table",
        references=len(expected),
        rows=len(TABLE),
        found=len(found),
        precision=round(precision, 4),
        recall=round(recall, 4),
    )
    assert len(expected) >= 100
    assert precision >= 0.95 and recall >= 0.95, (precision, recall)


def test_an_attachment_named_after_a_symbol_is_matched():
    assert symbol_key("313/QĐ-UBND-HC") in symbol_key("313-QD-UBND-HC.pdf")
    assert symbol_key("12/KH-UBND") in symbol_key("Kế hoạch 12-KH-UBND (bản ký).doc")
