"""Pools of invented names and words that both tasks draw from.

First names, surnames, syllables for invented words and towns, company and shop suffixes,
products, events, roles, months and number words. Nothing here refers to a real entity, so
no fact in the data can come from world knowledge.
"""

from __future__ import annotations

FIRST_NAMES = (
    "Ada", "Aiko", "Alba", "Amara", "Anders", "Anika", "Arjun", "Astrid", "Bea", "Bilal",
    "Bram", "Bruno", "Camille", "Chen", "Chiara", "Cosima", "Dalia", "Dario", "Desmond",
    "Dmitri", "Elena", "Elif", "Elodie", "Emeka", "Esme", "Farah", "Felix", "Fionn", "Freya",
    "Gideon", "Greta", "Gwen", "Hamid", "Hana", "Hugo", "Idris", "Ilse", "Ines", "Isolde",
    "Ivan", "Jalen", "Jana", "Joaquin", "Jude", "Kai", "Kamala", "Keira", "Kenji", "Lars",
    "Leila", "Lena", "Luca", "Mabel", "Malik", "Marisol", "Mateo", "Mira", "Nadia", "Nikhil",
    "Noor", "Odette", "Omar", "Pablo", "Petra", "Priya", "Quentin", "Rafael", "Rania", "Rohan",
    "Rosa", "Sami", "Sanne", "Selin", "Soren", "Tamsin", "Tariq", "Thea", "Tomas", "Uma",
    "Valentin", "Vera", "Wanjiru", "Wes", "Xavier", "Yara", "Yusuf", "Zainab", "Zoltan",
)  # fmt: skip
SURNAMES = (
    "Abara", "Achterberg", "Albescu", "Arkwright", "Bakshi", "Balogun", "Bellamy", "Brandt",
    "Brennan", "Castellano", "Chowdhury", "Corrigan", "Costa", "Dalca", "Delacroix",
    "Drummond", "Dunmore", "Eklund", "Ekwueme", "Esposito", "Falkner", "Fenwick", "Ferreira",
    "Fitzgerald", "Gallo", "Galloway", "Grieve", "Haddad", "Halvorsen", "Hargreave", "Horvath",
    "Ibarra", "Ilves", "Iyer", "Jablonski", "Jensen", "Jovanovic", "Kagame", "Kaur", "Kessler",
    "Kirby", "Kowalczyk", "Lachance", "Laine", "Lindqvist", "Lombardi", "Maddox", "Marchetti",
    "Mbeki", "Moreau", "Mwangi", "Nakamura", "Nilsen", "Novak", "Oduya", "Okafor", "Olsen",
    "Pardo", "Petrov", "Quigley", "Quist", "Rahman", "Rasmussen", "Reyes", "Sandoval",
    "Santoro", "Sato", "Szabo", "Tanaka", "Thorne", "Torvik", "Uchenna", "Umarov", "Valdez",
    "Varga", "Vasquez", "Wexler", "Whitlock", "Wojcik", "Xu", "Yamada", "Yilmaz", "Zamora",
    "Zielinski",
)  # fmt: skip
WORD_HEADS = (
    "Vel", "Quin", "Mar", "Tor", "Bel", "Cal", "Dra", "Fen", "Gal", "Hol", "Jor", "Kel", "Lun",
    "Mor", "Nor", "Ost", "Pel", "Ryn", "Sel", "Tam", "Ul", "Var", "Wen", "Yar", "Zel", "Bram",
    "Cor", "Dun", "Eld", "Far", "Gor", "Hal", "Isk", "Kas", "Lor", "Mel", "Nev", "Orr", "Pra",
    "Rav", "Sol", "Tir", "Vas", "Wyn", "Zan", "Ash", "Brix", "Cin", "Dov", "Fal",
)  # fmt: skip
WORD_MIDS = ("", "", "", "a", "i", "o", "en", "ar", "el", "is")
WORD_TAILS = (
    "ora", "ex", "ion", "ara", "ent", "ix", "ova", "eth", "ano", "ia", "ys", "orn", "ida",
    "elle", "aro", "uma", "ette", "is", "ona", "ar", "ico", "ask", "une", "oly",
)  # fmt: skip
TOWN_TAILS = (
    "ford", "haven", "wick", "brook", "by", "stead", "mere", "ton", "field", "port", "vale",
    "holm", "bury", "cliff", "dale", "moor", "gate", "well",
)  # fmt: skip
TOWN_HEADS = ("Port ", "Upper ", "Little ", "North ", "East ", "West ", "Old ", "Lower ")
COMPANY_SUFFIXES = (
    "Labs", "Works", "Systems", "Group", "Foods", "Textiles", "Logistics", "Robotics",
    "Analytics", "Outfitters", "Instruments", "Ceramics", "Partners", "Biotech", "Studios",
    "Motors", "Press", "Energy", "Dynamics", "Designs",
)  # fmt: skip
SHOP_SUFFIXES = ("Home", "Outfitters", "Supply Co.", "Goods", "Market", "Store", "Gear")
JOB_TITLES = (
    "Head of Procurement", "Senior Buyer", "Operations Manager", "Marketing Lead",
    "Data Analyst", "Office Manager", "Chief Financial Officer", "Product Designer",
    "Sales Director", "HR Coordinator", "Lab Technician", "Project Manager",
    "Account Executive", "Logistics Planner", "Quality Engineer", "Research Scientist",
    "Customer Success Manager", "Facilities Coordinator", "Brand Strategist", "Legal Counsel",
)  # fmt: skip
PRODUCT_NOUNS = (
    "wireless headphones", "standing desk", "espresso grinder", "trail running shoes",
    "cast iron skillet", "desk lamp", "yoga mat", "rain jacket", "mechanical keyboard",
    "water bottle", "hiking backpack", "electric kettle", "office chair", "bluetooth speaker",
    "air purifier", "wool blanket", "camping stove", "monitor stand", "bike helmet",
    "coffee table", "ceramic vase", "gaming mouse", "sleeping bag", "portable charger",
    "cordless drill", "garden hose", "smart thermostat", "rice cooker", "travel pillow",
    "stand mixer",
)  # fmt: skip
MODEL_WORDS = (
    "Aero", "Nimbus", "Flux", "Terra", "Pulse", "Halo", "Echo", "Strata", "Vento", "Lumo",
    "Orbit", "Drift", "Summit", "Kite", "Ember", "Tide",
)  # fmt: skip
MODEL_SUFFIXES = ("", "", " 2", " Pro", " Mini", " X", " Max", " 3", " Lite", " S")
COLORS = (
    "black", "white", "navy blue", "forest green", "charcoal", "sand", "burgundy", "sky blue",
    "graphite", "olive", "coral", "silver", "matte black", "ivory", "slate grey", "mustard",
)  # fmt: skip
EVENT_HEADS = (
    "Quarterly", "Annual", "Spring", "Autumn", "Team", "Board", "Community", "Volunteer",
    "Product", "Design", "Budget", "Customer", "Safety", "Onboarding", "Partner", "Alumni",
)  # fmt: skip
EVENT_TAILS = (
    "Planning Review", "Kickoff", "Retrospective", "Workshop", "Town Hall", "Offsite",
    "Training", "Fundraiser", "Picnic", "Strategy Session", "Showcase", "Orientation",
    "Dinner", "Hackathon", "Roundtable", "Open Day",
)  # fmt: skip
VISIT_REASONS = (
    "annual checkup", "flu vaccination", "blood test", "follow-up on knee pain",
    "allergy review", "blood pressure check", "skin rash", "ear infection",
    "physiotherapy assessment", "eye exam", "dental cleaning", "prescription renewal",
    "sprained ankle", "migraine review", "travel vaccinations", "asthma review",
)  # fmt: skip
CLINIC_SUFFIXES = (
    "Family Clinic", "Medical Centre", "Health Center", "Dental Practice", "Eye Clinic",
    "Physio Rooms", "Walk-in Clinic", "Community Practice",
)  # fmt: skip
DEVICE_NOUNS = (
    "Router", "Thermostat", "App", "Smartwatch", "Printer", "Scanner", "Robot Vacuum",
    "Doorbell", "Earbuds", "Cloud Drive", "Tablet", "E-reader", "Dashcam", "Soundbar",
)  # fmt: skip
CARRIER_SUFFIXES = ("Express", "Freight", "Post", "Couriers", "Logistics", "Parcel")
AIRLINE_SUFFIXES = ("Air", "Airways", "Wings", "Jet", "Airlines")
DELIVERY_NOTES = (
    "leave at the back door", "ring the side bell", "call on arrival",
    "leave in the parcel locker", "hand to the concierge", "do not leave with neighbours",
    "use the loading bay entrance", "knock loudly, the bell is broken",
)  # fmt: skip
ROLES = (
    "carpenter", "architect", "nurse", "pilot", "baker", "librarian", "engineer",
    "pharmacist", "chemist", "teacher", "electrician", "translator", "surveyor", "florist",
    "accountant", "veterinarian", "geologist", "journalist", "beekeeper", "optician",
)  # fmt: skip
DOG_NAMES = (
    "Biscuit", "Pepper", "Juniper", "Moose", "Clover", "Ziggy", "Mochi", "Rufus", "Olive",
    "Pickles", "Nutmeg", "Bramble", "Tofu", "Waffles", "Indigo", "Maple", "Pretzel", "Bosco",
    "Sprout", "Cinder",
)  # fmt: skip
THINGS = (
    "bicycles", "beehives", "guitars", "houseplants", "chickens", "kayaks", "telescopes",
    "typewriters", "aquariums", "sewing machines", "vintage radios", "apple trees",
)  # fmt: skip
PRODUCT_KINDS = (
    "Kettle", "Lantern", "Backpack", "Blender", "Drone", "Headset", "Scooter", "Tent",
    "Camera", "Heater", "Speaker", "Juicer", "Tablet", "Bicycle", "Toaster", "Watch",
)  # fmt: skip
MONTHS = (
    "January", "February", "March", "April", "May", "June", "July", "August", "September",
    "October", "November", "December",
)  # fmt: skip
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
NUM_WORDS = (
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
    "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
    "nineteen", "twenty",
)  # fmt: skip
