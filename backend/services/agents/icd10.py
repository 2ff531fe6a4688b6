"""Built-in tool: ICD-10 lookup over a small bundled table of common codes (English and Chinese
names), by code prefix or by words of either name. A starting point, not the full classification."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Icd10Code:
    code: str
    name_en: str
    name_zh: str


TABLE: tuple[Icd10Code, ...] = (
    Icd10Code("A09", "Infectious gastroenteritis and colitis, unspecified", "感染性胃肠炎和结肠炎"),
    Icd10Code("A15", "Respiratory tuberculosis", "呼吸道结核病"),
    Icd10Code("B18.1", "Chronic viral hepatitis B", "慢性乙型病毒性肝炎"),
    Icd10Code("B20", "HIV disease", "人类免疫缺陷病毒病"),
    Icd10Code("C16", "Malignant neoplasm of stomach", "胃恶性肿瘤"),
    Icd10Code("C18", "Malignant neoplasm of colon", "结肠恶性肿瘤"),
    Icd10Code("C22", "Malignant neoplasm of liver and intrahepatic bile ducts", "肝和肝内胆管恶性肿瘤"),
    Icd10Code("C34", "Malignant neoplasm of bronchus and lung", "支气管和肺恶性肿瘤"),
    Icd10Code("C50", "Malignant neoplasm of breast", "乳房恶性肿瘤"),
    Icd10Code("D50", "Iron deficiency anaemia", "缺铁性贫血"),
    Icd10Code("E03.9", "Hypothyroidism, unspecified", "甲状腺功能减退症"),
    Icd10Code("E05", "Thyrotoxicosis (hyperthyroidism)", "甲状腺毒症（甲状腺功能亢进症）"),
    Icd10Code("E10", "Type 1 diabetes mellitus", "1型糖尿病"),
    Icd10Code("E11", "Type 2 diabetes mellitus", "2型糖尿病"),
    Icd10Code("E66", "Obesity", "肥胖症"),
    Icd10Code("E78.5", "Hyperlipidaemia, unspecified", "高脂血症"),
    Icd10Code("E79.0", "Hyperuricaemia without signs of inflammatory arthritis", "高尿酸血症"),
    Icd10Code("F32", "Depressive episode", "抑郁发作"),
    Icd10Code("F41.1", "Generalized anxiety disorder", "广泛性焦虑障碍"),
    Icd10Code("G40", "Epilepsy", "癫痫"),
    Icd10Code("G43", "Migraine", "偏头痛"),
    Icd10Code("I10", "Essential (primary) hypertension", "原发性高血压"),
    Icd10Code("I20", "Angina pectoris", "心绞痛"),
    Icd10Code("I21", "Acute myocardial infarction", "急性心肌梗死"),
    Icd10Code("I25", "Chronic ischaemic heart disease", "慢性缺血性心脏病"),
    Icd10Code("I48", "Atrial fibrillation and flutter", "心房颤动和扑动"),
    Icd10Code("I50", "Heart failure", "心力衰竭"),
    Icd10Code("I63", "Cerebral infarction", "脑梗死"),
    Icd10Code("I61", "Intracerebral haemorrhage", "脑内出血"),
    Icd10Code("J02", "Acute pharyngitis", "急性咽炎"),
    Icd10Code("J06.9", "Acute upper respiratory infection, unspecified", "急性上呼吸道感染"),
    Icd10Code("J18", "Pneumonia, organism unspecified", "肺炎，病原体未特指"),
    Icd10Code("J44", "Chronic obstructive pulmonary disease", "慢性阻塞性肺病"),
    Icd10Code("J45", "Asthma", "哮喘"),
    Icd10Code("K21", "Gastro-oesophageal reflux disease", "胃食管反流病"),
    Icd10Code("K25", "Gastric ulcer", "胃溃疡"),
    Icd10Code("K29", "Gastritis and duodenitis", "胃炎和十二指肠炎"),
    Icd10Code("K35", "Acute appendicitis", "急性阑尾炎"),
    Icd10Code("K74", "Fibrosis and cirrhosis of liver", "肝纤维化和肝硬化"),
    Icd10Code("K80", "Cholelithiasis", "胆石症"),
    Icd10Code("K85", "Acute pancreatitis", "急性胰腺炎"),
    Icd10Code("M06", "Other rheumatoid arthritis", "类风湿关节炎"),
    Icd10Code("M10", "Gout", "痛风"),
    Icd10Code("M17", "Gonarthrosis (arthrosis of knee)", "膝关节病"),
    Icd10Code("M54.5", "Low back pain", "下背痛"),
    Icd10Code("M81", "Osteoporosis without pathological fracture", "骨质疏松不伴病理性骨折"),
    Icd10Code("N18", "Chronic kidney disease", "慢性肾脏病"),
    Icd10Code("N20", "Calculus of kidney and ureter", "肾和输尿管结石"),
    Icd10Code("N39.0", "Urinary tract infection, site not specified", "尿路感染，部位未特指"),
    Icd10Code("O80", "Single spontaneous delivery", "单胎顺产"),
    Icd10Code("R05", "Cough", "咳嗽"),
    Icd10Code("R07.4", "Chest pain, unspecified", "胸痛"),
    Icd10Code("R50.9", "Fever, unspecified", "发热"),
    Icd10Code("R51", "Headache", "头痛"),
    Icd10Code("S72", "Fracture of femur", "股骨骨折"),
    Icd10Code("U07.1", "COVID-19, virus identified", "新型冠状病毒肺炎（病毒已确认）"),
)


def lookup(query: str, limit: int = 10) -> list[Icd10Code]:
    """Codes whose code starts with ``query`` (``E11``, ``i10``), else whose English or Chinese
    name contains every word of it (``diabetes type 2``, ``糖尿病``)."""
    text = query.strip()
    if not text:
        return []
    upper = text.upper()
    by_code = [c for c in TABLE if c.code.upper().startswith(upper)]
    if by_code:
        return by_code[:limit]
    words = text.lower().split()
    return [c for c in TABLE if all(w in c.name_en.lower() or w in c.name_zh for w in words)][:limit]


def lookup_tool(arguments: dict[str, Any]) -> dict[str, Any]:
    found = lookup(str(arguments.get("query", "")), int(arguments.get("limit") or 10))
    return {"matches": [asdict(c) for c in found], "count": len(found)}
